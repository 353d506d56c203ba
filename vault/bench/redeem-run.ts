/**
 * The redemption measurement shared by `pnpm bench` (redeem-bench.ts) and `pnpm bench:scale`
 * (scale-bench.ts): start the vault as a child process on a data dir, sign up 20 customers over
 * HTTP with a software passkey, store their details, issue multi-use keys, pre-sign one client
 * assertion per request (so the load generator does not steal CPU from the vault while
 * measuring), drive redemptions with autocannon, stop the vault.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CLIENT_ASSERTION_JWT_TYPE,
  CLIENT_ASSERTION_TYPE,
  type IssuedWebkey,
} from '@webkey/protocol';
import { VaultCustomer } from '@webkey/testkit';
import autocannon from 'autocannon';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { cpuUsPerRequest, startChild } from './processes.ts';

const CUSTOMERS = 20;
const USES_PER_KEY = 100;

/**
 * The node flags of `pnpm start` (package.json), so the benchmark runs the vault as it is
 * started in production.
 */
function startNodeFlags(): string[] {
  const manifest = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as {
    scripts: Record<string, string>;
  };
  const words = manifest.scripts.start!.split(/\s+/);
  return words.slice(words.indexOf('node') + 1, words.indexOf('vault/bin/webkey-vault.js'));
}

/** The vendor the benchmark redeems as: its metadata document served on 127.0.0.1. */
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

/**
 * Runs autocannon to the end; `elapsedMs` runs from the start to the last response (autocannon
 * itself stops, and rounds its duration, to its one-second ticks).
 */
export function runAutocannon(
  options: autocannon.Options,
): Promise<autocannon.Result & { elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let last = started;
    const instance = autocannon(options, (error, result) =>
      error ? reject(error) : resolve({ ...result, elapsedMs: last - started }),
    );
    instance.on('response', () => {
      last = performance.now();
    });
  });
}

/** The figures of one autocannon run that every benchmark reports. */
export function runFigures(run: autocannon.Result & { elapsedMs: number }) {
  return {
    /** Requests completed over the time from the start to the last response. */
    rps: run.requests.total / (run.elapsedMs / 1000),
    p50Ms: run.latency.p50,
    p99Ms: run.latency.p99,
    /** Connection errors, timeouts and non-2xx answers. */
    errors: run.errors + run.timeouts + run.non2xx,
  };
}

export interface RedemptionOptions {
  /** The vault's data dir: fresh, or holding a vault (a seeded one, say). */
  dataDir: string;
  requests: number;
  connections: number;
  /** `webkey-vault serve --workers`: a count, or `auto`; '1' runs a single process. */
  workers: string;
  /** Extra node arguments for the vault process (WEBKEY_BENCH_NODE_ARGS). */
  nodeArgs?: string[];
}

/** What one measurement found. */
export interface RedemptionMeasurement {
  /**
   * Redemptions completed over the time from the start to the last response. (Autocannon's own
   * `requests.average` averages whole one-second ticks: at 20,000 requests and 3,000 per second
   * it moves in steps of about 15%.)
   */
  overallRps: number;
  p50Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  /**
   * CPU time the vault spent per redemption, µs, over all its threads and worker processes: a
   * figure that, unlike throughput, hardly depends on what else the machine runs. Undefined
   * without /proc.
   */
  cpuUs: number | undefined;
  /** The vault's resident memory after the run, MB (its main process). */
  rssMb: number;
  /** Requests completed. */
  requests: number;
  result: autocannon.Result;
}

/**
 * Starts the vault on `dataDir`, prepares customers, keys and assertions, measures
 * `requests` redemptions at `connections` connections, and stops the vault.
 *
 * @example
 * const run = await measureRedemptions({ dataDir, requests: 20_000, connections: 50, workers: '1' });
 */
export async function measureRedemptions(
  options: RedemptionOptions,
): Promise<RedemptionMeasurement> {
  const { dataDir, requests: total, connections, workers } = options;
  const vault = await startChild(
    [
      ...startNodeFlags(),
      ...(options.nodeArgs ?? []),
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
  let vendor: Awaited<ReturnType<typeof startVendorMetadata>> | undefined;
  try {
    vendor = await startVendorMetadata();
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
    for (let i = 0; i < total + connections * 2; i++) {
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
    const cpuBefore = vault.cpuMs();
    const redeem = await runAutocannon({
      url: `${vault.url}/vendor/v1/redeem`,
      connections,
      amount: total,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++] }),
        },
      ],
    });
    const cpuAfter = vault.cpuMs();
    const { rps, p50Ms, p99Ms, errors } = runFigures(redeem);
    return {
      cpuUs: cpuUsPerRequest(cpuBefore, cpuAfter, redeem.requests.total),
      overallRps: rps,
      p50Ms,
      p99Ms,
      errors,
      rssMb: vault.rssMb(),
      requests: redeem.requests.total,
      result: redeem,
    };
  } finally {
    await Promise.all([vault.stop(), vendor?.stop()]);
  }
}
