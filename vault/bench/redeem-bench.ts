/**
 * `pnpm bench`: redemption throughput and latency through the real HTTP stack with vendor
 * authentication, against a bare Hono JSON endpoint measured in the same run.
 *
 * The vault and the baseline each run in their own process; autocannon drives them from this
 * one with 50 connections. Every redemption carries a fresh client assertion (pre-signed, so the
 * load generator does not steal CPU from the vault while measuring) and redeems one use of a
 * pre-issued key (see redeem-run.ts). Ends with one JSON line.
 *
 *   pnpm bench [--requests N] [--connections N] [--workers N]    (defaults 20000, 50, 1)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild } from './processes.ts';
import { measureRedemptions, runAutocannon } from './redeem-run.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
}

async function main(): Promise<void> {
  const total = Number(option('--requests', '20000'));
  const connections = Number(option('--connections', '50'));
  const workers = option('--workers', '1');
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
    const bareOptions = { url: `${baseline.url}/json`, connections, method: 'POST' } as const;
    // The first tens of thousands of requests run while V8 still optimises the server's code.
    await runAutocannon({ ...bareOptions, amount: 50_000 });
    const bare = await runAutocannon({ ...bareOptions, amount: Math.max(total * 10, 200_000) });
    const bareRps = bare.requests.total / (bare.elapsedMs / 1000);
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
