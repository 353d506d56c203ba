/**
 * `pnpm bench:scale`: the redemption benchmark of `pnpm bench` (redeem-run.ts) on an empty
 * vault, then on a vault seeded with many customers and audit entries (seed-scale.ts, default
 * 1,000,000 and 10,000,000); the 20 benchmark customers sign up over HTTP on top of the seed, as
 * in the empty run. Ends with one JSON line; the target is a ratio (seeded / empty) of 0.9 or
 * more. Throughput here is requests completed over the time to the last response (overallRps).
 *
 *   pnpm bench:scale [--customers N] [--entries M] [--keep DIR] [--rounds R] [--warm]
 *                    [--requests N] [--connections N] [--workers N] [--seed-workers W]
 *
 * `--keep DIR` seeds into DIR and leaves it there, or, when DIR already holds a finished seed
 * (its seed.json), measures on it without seeding again (the counts are then the seed's, and
 * every run adds its 20 benchmark customers). Temporary data dirs are removed at the end.
 * `--rounds R` measures R times each way, alternating, and reports the medians.
 *
 * How much of the seeded database the operating system has in its page cache matters: each
 * redemption adds an audit entry, whose random id lands on a random leaf of that id's index
 * (about 380 MB at 10,000,000 entries), read from disk when the page cache has let it go. The
 * line reports the share that was cached (`database_cached_pct`, from util-linux `fincore`);
 * `--warm` reads the database through before measuring.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  measureRedemptions,
  type RedemptionMeasurement,
  type RedemptionOptions,
} from './redeem-run.ts';
import { readSeedSummary, SEED_MARKER, type SeedSummary, seedScale } from './seed-scale.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * How much of a file the operating system holds in its page cache, in percent (from util-linux
 * `fincore`); undefined when that cannot be told.
 */
function cachedPercent(file: string): number | undefined {
  const result = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], {
    encoding: 'utf8',
  });
  const resident = Number(result.stdout?.trim());
  if (result.status !== 0 || !Number.isFinite(resident)) return undefined;
  return Math.round((resident / statSync(file).size) * 100);
}

/** Reads a file through, which leaves it in the page cache (if memory allows). */
async function warm(file: string): Promise<void> {
  for await (const _chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    // Reading is the point.
  }
}

/** The seeded data dir: a kept one (seeded now or before), or a temporary one. */
async function seededDir(
  keep: string | undefined,
  customers: number,
  auditEntries: number,
  workers: number,
): Promise<{ dataDir: string; seed: SeedSummary; reused: boolean }> {
  const dataDir = keep ?? mkdtempSync(join(tmpdir(), 'webkey-scale-'));
  const previous = keep ? readSeedSummary(dataDir) : undefined;
  if (previous) {
    log(
      `bench:scale: reusing the seed in ${dataDir} (${previous.customers} customers, ${previous.auditEntries} audit entries)`,
    );
    return { dataDir, seed: previous, reused: true };
  }
  if (existsSync(join(dataDir, 'vault.sqlite'))) {
    throw new Error(
      `${dataDir} holds a database but no ${SEED_MARKER} (an unfinished seed?): remove it or pick another dir`,
    );
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  log(
    `bench:scale: seeding ${customers} customers and ${auditEntries} audit entries in ${dataDir}`,
  );
  const seed = await seedScale({ dataDir, customers, auditEntries, workers, progress: log });
  log(`bench:scale: seeded in ${seed.seconds} s, database ${seed.databaseMb} MB`);
  return { dataDir, seed, reused: false };
}

async function main(): Promise<void> {
  const customers = Number(option('--customers', '1000000'));
  const auditEntries = Number(option('--entries', '10000000'));
  const keepOption = option('--keep', '');
  const keep = keepOption ? resolve(keepOption) : undefined;
  const seedWorkers = Number(option('--seed-workers', String(availableParallelism())));
  const run: Omit<RedemptionOptions, 'dataDir'> = {
    requests: Number(option('--requests', '20000')),
    connections: Number(option('--connections', '50')),
    workers: option('--workers', '1'),
    nodeArgs: process.env.WEBKEY_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
  };

  // More than one round alternates the two measurements (empty, seeded, empty, seeded, ...)
  // and reports medians, which tells a real difference from a noisy run.
  const rounds = Math.max(1, Number(option('--rounds', '1')));
  // A seeded database the page cache has dropped makes each new audit entry read cold index
  // pages from disk; --warm reads it through first, to measure the vault with it cached.
  const warmFirst = process.argv.includes('--warm');

  const temporary: string[] = [];
  try {
    const empties: RedemptionMeasurement[] = [];
    const fulls: RedemptionMeasurement[] = [];
    let seeded: Awaited<ReturnType<typeof seededDir>> | undefined;
    const cachedBefore: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const of = rounds > 1 ? ` (round ${round} of ${rounds})` : '';
      const emptyDir = mkdtempSync(join(tmpdir(), 'webkey-scale-empty-'));
      temporary.push(emptyDir);
      log(`bench:scale: measuring on an empty vault${of}`);
      const empty = await measureRedemptions({ ...run, dataDir: emptyDir });
      rmSync(emptyDir, { recursive: true, force: true });
      empties.push(empty);
      log(`bench:scale: empty vault: ${Math.round(empty.overallRps)} redemptions/s`);

      if (!seeded) {
        seeded = await seededDir(keep, customers, auditEntries, seedWorkers);
        if (!keep) temporary.push(seeded.dataDir);
      }
      const database = join(seeded.dataDir, 'vault.sqlite');
      if (warmFirst) {
        log('bench:scale: reading the seeded database into the page cache');
        await warm(database);
      }
      const cached = cachedPercent(database);
      if (cached !== undefined) cachedBefore.push(cached);
      log(
        `bench:scale: measuring on the seeded vault${of}${cached === undefined ? '' : `, ${cached}% of its database in the page cache`}`,
      );
      const full = await measureRedemptions({ ...run, dataDir: seeded.dataDir });
      fulls.push(full);
      log(`bench:scale: seeded vault: ${Math.round(full.overallRps)} redemptions/s`);
    }
    const seed = seeded!.seed;
    const empty = median(empties.map((m) => m.overallRps));
    const full = median(fulls.map((m) => m.overallRps));
    const line = {
      bench: 'redeem_scale',
      customers: seed.customers,
      audit_entries: seed.auditEntries,
      empty_rps: Math.round(empty),
      seeded_rps: Math.round(full),
      ratio: Number((full / empty).toFixed(3)),
      empty_p50_ms: median(empties.map((m) => m.p50Ms)),
      seeded_p50_ms: median(fulls.map((m) => m.p50Ms)),
      empty_p99_ms: median(empties.map((m) => m.p99Ms)),
      seeded_p99_ms: median(fulls.map((m) => m.p99Ms)),
      errors: [...empties, ...fulls].reduce((sum, m) => sum + m.errors, 0),
      seed_seconds: seed.seconds,
      seed_reused: seeded!.reused,
      database_mb: seed.databaseMb,
      // Share of the seeded database in the page cache as its measurement began (lowest round).
      database_cached_pct: cachedBefore.length > 0 ? Math.min(...cachedBefore) : null,
      warmed: warmFirst,
      empty_rss_mb: Math.max(...empties.map((m) => m.rssMb)),
      seeded_rss_mb: Math.max(...fulls.map((m) => m.rssMb)),
      requests: fulls[0]!.requests,
      workers: Number(run.workers),
      rounds,
      ...(rounds > 1
        ? {
            empty_rps_runs: empties.map((m) => Math.round(m.overallRps)),
            seeded_rps_runs: fulls.map((m) => Math.round(m.overallRps)),
          }
        : {}),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } finally {
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  }
}

/** The median (the mean of the middle two for an even count). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:scale failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
