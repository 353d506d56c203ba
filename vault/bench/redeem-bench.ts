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
 * and adds its figures to the line as `reference_*`.
 *
 *   pnpm bench [--requests N] [--connections N] [--workers N] [--reference]
 *   (defaults 20000, 50, 1)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { cpuUsPerRequest, startChild } from './processes.ts';
import { measureRedemptions, runAutocannon, runFigures } from './redeem-run.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
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
    const options = {
      url: `${provider.url}/me`,
      connections,
      requests: [
        {
          method: 'GET' as const,
          setupRequest: (request: autocannon.Request) => ({
            ...request,
            headers: { authorization: `Bearer ${tokens[next++ % tokens.length]}` },
          }),
        },
      ],
    };
    // As many requests to warm it as the vault's sign-ups and key issuance give the vault.
    await runAutocannon({ ...options, amount: 5_000 });
    const cpuBefore = provider.cpuMs();
    const run = await runAutocannon({ ...options, amount: requests });
    const cpuAfter = provider.cpuMs();
    return { cpuUs: cpuUsPerRequest(cpuBefore, cpuAfter, run.requests.total), ...runFigures(run) };
  } finally {
    await provider.stop();
  }
}

async function main(): Promise<void> {
  const total = Number(option('--requests', '20000'));
  const connections = Number(option('--connections', '50'));
  const workers = option('--workers', '1');
  const withReference = process.argv.includes('--reference');
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
      ...(reference
        ? {
            reference_rps: Math.round(reference.rps),
            reference_ratio: Number((reference.rps / bareRps).toFixed(3)),
            reference_p50_ms: reference.p50Ms,
            reference_p99_ms: reference.p99Ms,
            reference_errors: reference.errors,
            reference_cpu_us: reference.cpuUs,
          }
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
