import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureRedemptions } from './redeem-run.ts';
const m = await measureRedemptions({ dataDir: mkdtempSync(join(tmpdir(), 'zz-')), requests: Number(process.argv[2] ?? 20000), connections: 50, workers: process.argv[3] ?? '1', nodeArgs: process.env.WEBKEY_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [] });
const l = m.result.latency;
console.log(JSON.stringify({ rps: Math.round(m.overallRps), cpu: m.cpuUs, p50: l.p50, p75: l.p75, p90: l.p90, p97_5: l.p97_5, p99: l.p99, p99_9: l.p99_9, max: l.max, mean: l.average }));
