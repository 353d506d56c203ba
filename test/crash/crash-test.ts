/**
 * `pnpm crash-test [--cycles N] [--concurrency N] [--keep]`: kills the vault with SIGKILL in the
 * middle of concurrent redemptions, again and again, and checks that nothing acknowledged was
 * lost and nothing was half done.
 *
 * The vault runs as a child process (`webkey-vault serve`, SQLite in a fresh data dir, development
 * mode); customers, records and multi-use web keys are set up through its API. The vendor's
 * metadata server lives in this process, so it survives the vault's restarts. Each cycle drives
 * redemptions (N in flight, each with a fresh client assertion and its own Idempotency-Key) for a
 * random 100 to 600 ms, kills the vault at that moment, restarts it on the same data dir and port
 * (web keys and client assertions are bound to the vault's origin), and sends every request that
 * was in flight again with the same Idempotency-Key: whether or not the first attempt committed,
 * the retry must succeed (a replay of the committed answer, or the redemption now).
 *
 * At the end, on the cleanly restarted vault: every redemption answered 200 has its key_redeemed
 * audit entry; for every key, the uses consumed equal its key_redeemed entries (no use without
 * its entry, no entry without its use); every customer's audit export verifies against the
 * vault's JWKS; and, after a clean stop, `PRAGMA integrity_check` on the SQLite file says `ok`.
 * Prints one JSON line and exits 1 when a check fails (keeping the data dir for a look).
 *
 * A SIGKILL loses the process, not the operating system's page cache: this tests atomicity and
 * recovery of committed transactions, not the fsync that makes them survive a power loss.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AuditEntry,
  type AuditExport,
  type IssuedWebkey,
  type RedemptionResponse,
  verifyAuditExport,
  WEBKEY_LIFETIME,
  WEBKEY_USES,
  type WebkeySummary,
} from '@webkey/protocol';
import { type RawAnswer, TestVendor, VaultCustomer } from '@webkey/testkit';
import type { JSONWebKeySet } from 'jose';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'vault', 'bin', 'webkey-vault.js');
const CUSTOMERS = 4;
/** Uses kept available before each cycle; keys are issued to keep it so. */
const SPARE_USES = 2000;

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
}

function positiveInt(name: string, fallback: number): number {
  const value = Number(option(name, String(fallback)));
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`${name} takes a positive whole number\n`);
    process.exit(2);
  }
  return value;
}

const CYCLES = positiveInt('--cycles', 20);
const CONCURRENCY = positiveInt('--concurrency', 20);
const KEEP = process.argv.includes('--keep');

/** The vault as a child process. */
interface VaultProcess {
  url: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

async function startVaultProcess(dataDir: string, port: number): Promise<VaultProcess> {
  for (let attempt = 1; ; attempt++) {
    const child = spawn(process.execPath, [BIN, 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        WEBKEY_DATA_DIR: dataDir,
        WEBKEY_PORT: String(port),
        WEBKEY_DEV: 'true',
        WEBKEY_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-8000);
    });
    const exited = new Promise<number | null>((done) =>
      child.once('exit', (code) => {
        children.delete(child);
        done(code);
      }),
    );
    const url = await new Promise<string | undefined>((done) => {
      let stdout = '';
      child.stdout?.on('data', (chunk) => {
        stdout += chunk;
        const match = /listening on (\S+)/.exec(stdout);
        if (match) done(match[1]!);
      });
      void exited.then(() => done(undefined));
    });
    if (url) {
      // Keep draining the pipes, or a chatty vault would block on a full one.
      child.stdout?.resume();
      return { url, port: Number(new URL(url).port), child, exited };
    }
    // The port of the killed vault may take a moment to be free again.
    if (/EADDRINUSE/.test(stderr) && attempt < 50) {
      await sleep(100);
      continue;
    }
    throw new Error(`the vault did not start:\n${stderr}`);
  }
}

async function killVault(vault: VaultProcess): Promise<void> {
  vault.child.kill('SIGKILL');
  await vault.exited;
}

async function stopVault(vault: VaultProcess): Promise<number | null> {
  vault.child.kill('SIGTERM');
  return vault.exited;
}

/** A multi-use key in the pool; `assigned` counts redemptions (Idempotency-Keys) given to it. */
interface PoolKey {
  key: string;
  id: string;
  customer: number;
  uses: number;
  assigned: number;
}

/** One redemption: a key use and its Idempotency-Key, sent until the vault answers. */
interface Attempt {
  idempotencyKey: string;
  key: PoolKey;
}

interface Acknowledged {
  customer: number;
  keyId: string;
  auditEntryId: string;
  redemptionId: string;
  idempotencyKey: string;
}

class KeyPool {
  readonly keys: PoolKey[] = [];
  #next = 0;

  free(): number {
    return this.keys.reduce((sum, key) => sum + key.uses - key.assigned, 0);
  }

  /** The next key with a use left, round robin (so concurrent requests span customers). */
  take(): PoolKey | undefined {
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[(this.#next + i) % this.keys.length]!;
      if (key.assigned < key.uses) {
        this.#next = (this.#next + i + 1) % this.keys.length;
        key.assigned++;
        return key;
      }
    }
    return undefined;
  }
}

async function setUpCustomers(url: string): Promise<VaultCustomer[]> {
  const customers: VaultCustomer[] = [];
  for (let i = 0; i < CUSTOMERS; i++) {
    const customer = new VaultCustomer(url);
    await customer.signUp(`crash-${i}`);
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: [`${i} Crash Lane`], locality: 'Killtown', country: 'GB' },
      201,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/profile',
      { legalName: `Crash Customer ${i}`, birthDate: '1980-01-01' },
      201,
    );
    customers.push(customer);
  }
  return customers;
}

async function topUp(pool: KeyPool, customers: VaultCustomer[]): Promise<void> {
  while (pool.free() < SPARE_USES) {
    const index = pool.keys.length % customers.length;
    const issued = await customers[index]!.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      {
        scope: ['address.home', 'profile.age_over_21'],
        purpose: 'crash test',
        uses: WEBKEY_USES.max,
        lifetimeSeconds: WEBKEY_LIFETIME.max,
      },
      201,
    );
    pool.keys.push({
      key: issued.key,
      id: issued.id,
      customer: index,
      uses: issued.usesTotal,
      assigned: 0,
    });
  }
}

async function allRedeemedEntries(customer: VaultCustomer): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let before: number | null = null;
  do {
    const page: { entries: AuditEntry[]; nextBefore: number | null } = await customer.expect(
      'GET',
      `/api/v1/audit?event=key_redeemed&limit=500${before === null ? '' : `&before=${before}`}`,
    );
    entries.push(...page.entries);
    before = page.nextBefore;
  } while (before !== null);
  return entries;
}

/** The little of better-sqlite3 used here (it is the vault's dependency, typings included). */
type SqliteConstructor = new (
  file: string,
  options: { readonly: boolean; fileMustExist: boolean },
) => { pragma(source: string, options: { simple: false }): unknown; close(): void };

function integrityCheck(file: string): string {
  // better-sqlite3 is a dependency of the vault, not of the tests: load it from there.
  const require = createRequire(join(ROOT, 'vault', 'package.json'));
  const SQLite = require('better-sqlite3') as SqliteConstructor;
  const db = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check', { simple: false }) as Record<string, unknown>[];
    return rows.map((row) => String(Object.values(row)[0])).join('; ');
  } finally {
    db.close();
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'webkey-crash-'));
  let vault = await startVaultProcess(dataDir, 0);
  const port = vault.port;
  const vendor = await TestVendor.start('Crash Test Optics');
  const acknowledged: Acknowledged[] = [];
  const unexpected = new Map<string, number>();
  const counts = {
    attempts: 0,
    lost: 0,
    retried: 0,
    retriedOk: 0,
    /** Retries answered with a redemption the killed vault had committed (a replay). */
    committedBeforeCrash: 0,
    retryFailures: 0,
  };
  let failed = false;
  try {
    const customers = await setUpCustomers(vault.url);
    const pool = new KeyPool();

    /** Sends one attempt; the answer, or undefined when none came (the vault died under it). */
    const send = async (attempt: Attempt): Promise<RawAnswer | undefined> => {
      let answer: RawAnswer;
      try {
        answer = await vendor.redeem(
          vault.url,
          { key: attempt.key.key },
          { idempotencyKey: attempt.idempotencyKey },
        );
      } catch {
        return undefined;
      }
      if (answer.status === 200) {
        const body = answer.body as RedemptionResponse;
        acknowledged.push({
          customer: attempt.key.customer,
          keyId: body.keyId,
          auditEntryId: body.auditEntryId,
          redemptionId: body.redemptionId,
          idempotencyKey: attempt.idempotencyKey,
        });
      } else {
        const code = (answer.body as { code?: string } | undefined)?.code ?? '';
        const label = `${answer.status} ${code}`.trim();
        unexpected.set(label, (unexpected.get(label) ?? 0) + 1);
      }
      return answer;
    };

    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await topUp(pool, customers);
      let stopping = false;
      const lost: Attempt[] = [];
      const worker = async () => {
        while (!stopping) {
          const key = pool.take();
          if (!key) return;
          const attempt = { idempotencyKey: randomUUID(), key };
          counts.attempts++;
          if (!(await send(attempt))) lost.push(attempt);
        }
      };
      const workers = Array.from({ length: CONCURRENCY }, worker);
      await sleep(100 + Math.random() * 500);
      stopping = true;
      await killVault(vault);
      const deadAt = Date.now();
      await Promise.all(workers);
      counts.lost += lost.length;
      vault = await startVaultProcess(dataDir, port);
      // What was in flight may or may not have committed; the same Idempotency-Key must get
      // the committed answer, or redeem now.
      counts.retried += lost.length;
      await Promise.all(
        lost.map(async (attempt) => {
          for (let tries = 1; tries <= 3; tries++) {
            const answer = await send(attempt);
            if (answer?.status === 200) {
              counts.retriedOk++;
              const { redeemedAt } = answer.body as RedemptionResponse;
              if (Date.parse(redeemedAt) < deadAt) counts.committedBeforeCrash++;
              return;
            }
            if (answer) break;
            await sleep(100);
          }
          counts.retryFailures++;
        }),
      );
    }

    // The checks, on the vault restarted after the last crash.
    const redeemedBy = new Map<string, AuditEntry>();
    const redeemedPerKey = new Map<string, number>();
    let consumedWithoutAudit = 0;
    let auditWithoutUse = 0;
    let consumed = 0;
    let chainsVerified = 0;
    const jwks = await customers[0]!.expect<JSONWebKeySet>('GET', '/.well-known/jwks.json');
    for (const [index, customer] of customers.entries()) {
      for (const entry of await allRedeemedEntries(customer)) {
        redeemedBy.set(`${index}:${entry.id}`, entry);
        if (entry.keyId)
          redeemedPerKey.set(entry.keyId, (redeemedPerKey.get(entry.keyId) ?? 0) + 1);
      }
      const { webkeys } = await customer.expect<{ webkeys: WebkeySummary[] }>(
        'GET',
        '/api/v1/webkeys?all=true',
      );
      for (const key of webkeys) {
        const used = key.usesTotal - key.usesLeft;
        const entries = redeemedPerKey.get(key.id) ?? 0;
        consumed += used;
        consumedWithoutAudit += Math.max(0, used - entries);
        auditWithoutUse += Math.max(0, entries - used);
      }
      const exported = await customer.expect<AuditExport>('GET', '/api/v1/audit/export');
      const verification = await verifyAuditExport(exported, { jwks });
      if (verification.ok) chainsVerified++;
      else
        process.stderr.write(`audit chain of customer ${index}: ${JSON.stringify(verification)}\n`);
    }
    let audited = 0;
    for (const ack of acknowledged) {
      const entry = redeemedBy.get(`${ack.customer}:${ack.auditEntryId}`);
      if (entry?.keyId === ack.keyId) audited++;
      else process.stderr.write(`acknowledged but not audited: ${JSON.stringify(ack)}\n`);
    }
    const auditIds = new Set(acknowledged.map((ack) => ack.auditEntryId));
    const duplicateAuditIds = acknowledged.length - auditIds.size;

    const stopCode = await stopVault(vault);
    const integrity = integrityCheck(join(dataDir, 'vault.sqlite'));

    failed =
      audited !== acknowledged.length ||
      consumedWithoutAudit !== 0 ||
      auditWithoutUse !== 0 ||
      chainsVerified !== customers.length ||
      integrity !== 'ok' ||
      duplicateAuditIds !== 0 ||
      counts.retryFailures !== 0 ||
      // Each Idempotency-Key was answered exactly once in the end, so each took exactly one use.
      consumed !== acknowledged.length ||
      unexpected.size !== 0 ||
      stopCode !== 0 ||
      acknowledged.length === 0;
    const summary = {
      crash: 'redeem',
      cycles: CYCLES,
      acknowledged: acknowledged.length,
      audited,
      consumed_without_audit: consumedWithoutAudit,
      chains_verified: chainsVerified,
      chains: customers.length,
      integrity,
      audit_without_use: auditWithoutUse,
      consumed,
      attempts: counts.attempts,
      lost_in_flight: counts.lost,
      retried_ok: counts.retriedOk,
      committed_before_crash: counts.committedBeforeCrash,
      retry_failures: counts.retryFailures,
      duplicate_audit_ids: duplicateAuditIds,
      unexpected: Object.fromEntries(unexpected),
      clean_stop: stopCode === 0,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    if (vault.child.exitCode === null && vault.child.signalCode === null) await killVault(vault);
    await vendor.stop();
    if (failed || KEEP) process.stderr.write(`data dir kept: ${dataDir}\n`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `crash test failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  },
);
