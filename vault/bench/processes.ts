import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A server started as a child process, with the URL it printed. */
export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** Resident set size of the child, in MB. */
  rssMb(): number;
  /**
   * CPU time (user + system, every thread) the child and its own children (workers) have used so
   * far, in ms; undefined where /proc is not available.
   */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

/** Spawns `node args...` and waits for "listening on URL" on its stdout. */
export async function startChild(
  args: string[],
  env: Record<string, string>,
): Promise<ChildServer> {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) =>
      reject(new Error(`${args.join(' ')} exited with ${code}: ${output}`)),
    );
  });
  return {
    url,
    child,
    rssMb: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    },
    cpuMs: () => processTreeCpuMs(child.pid!),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** CPU µs per request between two `cpuMs()` readings; undefined without /proc. */
export function cpuUsPerRequest(
  beforeMs: number | undefined,
  afterMs: number | undefined,
  requests: number,
): number | undefined {
  if (beforeMs === undefined || afterMs === undefined) return undefined;
  return Math.round(((afterMs - beforeMs) * 1000) / requests);
}

/** Fields of /proc/PID/stat after the command name: state is [0], ppid [1], utime [11], stime [12]. */
function statFields(pid: string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU ms of a process and its children that are still running (clock ticks of 10 ms). */
function processTreeCpuMs(pid: number): number | undefined {
  const own = statFields(String(pid));
  if (!own) return undefined;
  const ticks = (fields: string[]) => Number(fields[11]) + Number(fields[12]);
  let total = ticks(own);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (fields && Number(fields[1]) === pid) total += ticks(fields);
  }
  return total * 10;
}
