/**
 * `pnpm bench`: redemption throughput and latency through the real HTTP stack with vendor
 * authentication, against a bare Hono JSON endpoint measured in the same run.
 *
 * The vault and the baseline each run in their own process; autocannon drives them from this
 * one with 50 connections. Every redemption carries a fresh client assertion (pre-signed, so the
 * load generator does not steal CPU from the vault while measuring) and redeems one use of a
 * pre-issued key (see redeem-run.ts). Ends with one JSON line.
 *
 * `--reference` also measures, in the same run and the same way, the yardstick issue #3 sets
 * redemption against: an OpenID Connect provider's userinfo endpoint (userinfo-reference.ts),
 * and adds its figures to the line as `reference_*`. `--floor` measures, likewise, the three
 * stages of the least any redemption must do, written plainly in the same stack
 * (floor-server.ts), as `floor_body_*`, `floor_assertion_*` and `floor_writes_*`.
 *
 *   pnpm bench [--requests N] [--connections N] [--workers N] [--reference] [--floor]
 *   (defaults 20000, 50, 1)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { floorKeyToken } from './floor-keys.ts';
import { type ChildServer, cpuUsPerRequest, startChild } from './processes.ts';
import { measureRedemptions, runAutocannon, runFigures } from './redeem-run.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
}

/** Figures of one endpoint measured in its own process: throughput, latency, CPU. */
interface EndpointFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  cpuUs: number | undefined;
}

/**
 * Drives one request shape at a child server: as many requests to warm it as the vault's
 * sign-ups and key issuance give the vault, then `requests` measured.
 */
async function measureEndpoint(
  server: ChildServer,
  options: autocannon.Options,
  requests: number,
): Promise<EndpointFigures> {
  await runAutocannon({ ...options, amount: 5_000 });
  const cpuBefore = server.cpuMs();
  const run = await runAutocannon({ ...options, amount: requests });
  const cpuAfter = server.cpuMs();
  return { cpuUs: cpuUsPerRequest(cpuBefore, cpuAfter, run.requests.total), ...runFigures(run) };
}

/**
 * The OpenID Connect userinfo endpoint's throughput and latency, each request with one of the
 * provider's access tokens, in turn.
 */
async function measureUserinfo(dataDir: string, requests: number, connections: number) {
  const tokensFile = join(dataDir, 'reference-tokens.json');
  const provider = await startChild(['--import', 'tsx', 'vault/bench/userinfo-reference.ts'], {
    WEBKEY_BENCH_TOKENS_FILE: tokensFile,
  });
  try {
    const tokens = JSON.parse(readFileSync(tokensFile, 'utf8')) as string[];
    let next = 0;
    return await measureEndpoint(
      provider,
      {
        url: `${provider.url}/me`,
        connections,
        requests: [
          {
            method: 'GET',
            setupRequest: (request) => ({
              ...request,
              headers: { authorization: `Bearer ${tokens[next++ % tokens.length]}` },
            }),
          },
        ],
      },
      requests,
    );
  } finally {
    await provider.stop();
  }
}

const FLOOR_STAGES = ['body', 'assertion', 'writes', 'complete'] as const;
const FLOOR_KEYS = 1_000;

/**
 * The floor (floor-server.ts): each stage of the least a redemption must do, in its own process,
 * driven like the redemptions, each request with a fresh client assertion.
 */
async function measureFloor(requests: number, connections: number) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  const keyTokens = Array.from({ length: FLOOR_KEYS }, (_, i) => floorKeyToken(i));
  const bodies: string[] = [];
  for (let i = 0; i < requests + 5_000 + connections * 2; i++) {
    const assertion = await new SignJWT({ jti: randomUUID(), iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .sign(privateKey);
    bodies.push(JSON.stringify({ key: keyTokens[i % FLOOR_KEYS], client_assertion: assertion }));
  }
  const figures: Partial<Record<(typeof FLOOR_STAGES)[number], EndpointFigures>> = {};
  for (const stage of FLOOR_STAGES) {
    const server = await startChild(['--import', 'tsx', 'vault/bench/floor-server.ts'], {
      WEBKEY_BENCH_FLOOR_STAGE: stage,
      WEBKEY_BENCH_FLOOR_JWK: JSON.stringify(await exportJWK(publicKey)),
      WEBKEY_BENCH_FLOOR_KEYS: String(FLOOR_KEYS),
    });
    try {
      let next = 0;
      figures[stage] = await measureEndpoint(
        server,
        {
          url: `${server.url}/redeem`,
          connections,
          requests: [
            {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              setupRequest: (request) => ({ ...request, body: bodies[next++] }),
            },
          ],
        },
        requests,
      );
    } finally {
      await server.stop();
    }
  }
  return figures as Record<(typeof FLOOR_STAGES)[number], EndpointFigures>;
}

/** An endpoint's figures as `<prefix>_*` fields of the JSON line. */
function endpointFields(prefix: string, figures: EndpointFigures, bareRps: number) {
  return {
    [`${prefix}_rps`]: Math.round(figures.rps),
    [`${prefix}_ratio`]: Number((figures.rps / bareRps).toFixed(3)),
    [`${prefix}_p50_ms`]: figures.p50Ms,
    [`${prefix}_p99_ms`]: figures.p99Ms,
    [`${prefix}_errors`]: figures.errors,
    [`${prefix}_cpu_us`]: figures.cpuUs,
  };
}

async function main(): Promise<void> {
  const total = Number(option('--requests', '20000'));
  const connections = Number(option('--connections', '50'));
  const workers = option('--workers', '1');
  const withReference = process.argv.includes('--reference');
  const withFloor = process.argv.includes('--floor');
  const dataDir = mkdtempSync(join(tmpdir(), 'webkey-bench-'));
  const baseline = await startChild(['--import', 'tsx', 'vault/bench/baseline-server.ts'], {});
  try {
    const redeem = await measureRedemptions({
      dataDir,
      requests: total,
      connections,
      workers,
      nodeArgs: process.env.WEBKEY_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
    });
    const reference = withReference
      ? await measureUserinfo(dataDir, total, connections)
      : undefined;
    const floor = withFloor ? await measureFloor(total, connections) : undefined;
    const bareOptions = { url: `${baseline.url}/json`, connections, method: 'POST' } as const;
    // The first tens of thousands of requests run while V8 still optimises the server's code.
    await runAutocannon({ ...bareOptions, amount: 50_000 });
    const bare = await runAutocannon({ ...bareOptions, amount: Math.max(total * 10, 200_000) });
    const bareRps = runFigures(bare).rps;
    const line = {
      bench: 'redeem',
      redeem_rps: Math.round(redeem.overallRps),
      baseline_rps: Math.round(bareRps),
      ratio: Number((redeem.overallRps / bareRps).toFixed(3)),
      p50_ms: redeem.p50Ms,
      p99_ms: redeem.p99Ms,
      errors: redeem.errors,
      rss_mb: redeem.rssMb,
      cpu_us: redeem.cpuUs,
      requests: redeem.requests,
      workers: Number(workers),
      ...(reference ? endpointFields('reference', reference, bareRps) : {}),
      ...(floor
        ? Object.assign(
            {},
            ...FLOOR_STAGES.map((stage) => endpointFields(`floor_${stage}`, floor[stage], bareRps)),
          )
        : {}),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } finally {
    await baseline.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
