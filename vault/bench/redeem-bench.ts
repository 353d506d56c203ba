/**
 * `pnpm bench`: redemption throughput and latency through the real HTTP stack with vendor
 * authentication, against a bare Hono JSON endpoint measured in the same run.
 *
 * The vault and the baseline each run in their own process; autocannon drives them from this
 * one with 50 connections. Every redemption carries a fresh client assertion (pre-signed, so the
 * load generator does not steal CPU from the vault while measuring) and redeems one use of a
 * pre-issued key. Ends with one JSON line.
 *
 *   pnpm bench [--requests N] [--connections N] [--workers N]    (defaults 20000, 50, 1)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLIENT_ASSERTION_JWT_TYPE,
  CLIENT_ASSERTION_TYPE,
  type IssuedWebkey,
} from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import autocannon from 'autocannon';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startChild } from './processes.ts';

const CONNECTIONS = Number(option('--connections', '50'));
const CUSTOMERS = 20;
const USES_PER_KEY = 100;

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
}

function requestCount(): number {
  return Number(option('--requests', '20000'));
}

async function startVendorMetadata() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  let document = '';
  const server = createServer((_request, response) => {
    response
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' })
      .end(document);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const id = `http://127.0.0.1:${(server.address() as AddressInfo).port}/vendor.json`;
  document = JSON.stringify({ vendor_id: id, name: 'Bench Vendor', jwks: { keys: [jwk] } });
  return {
    id,
    kid: jwk.kid,
    privateKey,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

type Result = autocannon.Result;

function run(options: autocannon.Options): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

async function main(): Promise<void> {
  const total = requestCount();
  const dataDir = mkdtempSync(join(tmpdir(), 'webkey-bench-'));
  const profileArgs = process.env.WEBKEY_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const workers = option('--workers', '1');
  const vault = await startChild(
    [
      ...profileArgs,
      'vault/bin/webkey-vault.js',
      'serve',
      ...(workers === '1' ? [] : ['--workers', workers]),
    ],
    {
      WEBKEY_DATA_DIR: dataDir,
      WEBKEY_PORT: '0',
      WEBKEY_DEV: 'true',
      WEBKEY_LOG_LEVEL: 'warn',
    },
  );
  const baseline = await startChild(['--import', 'tsx', 'vault/bench/baseline-server.ts'], {});
  const vendor = await startVendorMetadata();
  try {
    // Customers with details, and enough multi-use keys for every request.
    const keysNeeded = Math.ceil(total / USES_PER_KEY) + 1;
    const keys: string[] = [];
    for (let i = 0; i < CUSTOMERS; i++) {
      const customer = new VaultCustomer(vault.url);
      await customer.signUp(`bench-${i}`);
      await customer.expect(
        'PUT',
        '/api/v1/records/address.home',
        { lines: [`${i} Bench Street`], locality: 'Loadtown', country: 'GB' },
        201,
      );
      await customer.expect(
        'PUT',
        '/api/v1/records/profile',
        { legalName: `Bench Customer ${i}`, birthDate: '1980-01-01' },
        201,
      );
      for (let k = i; k < keysNeeded; k += CUSTOMERS) {
        const issued = await customer.expect<IssuedWebkey>(
          'POST',
          '/api/v1/webkeys',
          {
            scope: ['address.home', 'profile.age_over_21'],
            purpose: 'bench',
            uses: USES_PER_KEY,
            lifetimeSeconds: 3600,
          },
          201,
        );
        keys.push(issued.key);
      }
    }
    // Interleave keys so concurrent requests hit different customers, as at many counters.
    const now = Math.floor(Date.now() / 1000);
    const bodies: string[] = [];
    for (let i = 0; i < total + CONNECTIONS * 2; i++) {
      const assertion = await new SignJWT({
        iss: vendor.id,
        sub: vendor.id,
        aud: vault.url,
        jti: randomUUID(),
        iat: now,
        exp: now + 300,
      })
        .setProtectedHeader({ alg: 'ES256', typ: CLIENT_ASSERTION_JWT_TYPE, kid: vendor.kid })
        .sign(vendor.privateKey);
      bodies.push(
        JSON.stringify({
          key: keys[i % keys.length],
          client_assertion_type: CLIENT_ASSERTION_TYPE,
          client_assertion: assertion,
        }),
      );
    }
    let next = 0;
    const redeem = await run({
      url: `${vault.url}/vendor/v1/redeem`,
      connections: CONNECTIONS,
      amount: total,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++] }),
        },
      ],
    });
    const rssMb = vault.rssMb();
    const bare = await run({
      url: `${baseline.url}/json`,
      connections: CONNECTIONS,
      amount: Math.max(total * 5, 50_000),
      method: 'POST',
    });
    const errors = redeem.errors + redeem.timeouts + redeem.non2xx;
    const line = {
      bench: 'redeem',
      redeem_rps: Math.round(redeem.requests.average),
      baseline_rps: Math.round(bare.requests.average),
      ratio: Number((redeem.requests.average / bare.requests.average).toFixed(3)),
      p50_ms: redeem.latency.p50,
      p99_ms: redeem.latency.p99,
      errors,
      rss_mb: rssMb,
      requests: redeem.requests.total,
      workers: Number(workers),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } finally {
    await Promise.all([vault.stop(), baseline.stop(), vendor.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
