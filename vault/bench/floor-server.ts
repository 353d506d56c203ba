/**
 * The floor under `pnpm bench --floor`: the least any redemption must do, written plainly in the
 * vault's own stack, so the redemption's figures can be read against what the stack itself
 * allows on this machine. One stage per process, chosen by WEBKEY_BENCH_FLOOR_STAGE; each stage
 * adds to the one before:
 *
 * - `body`: read the JSON body from Node's request (as the vault does), parse it, answer JSON.
 * - `assertion`: also verify the vendor's ES256 client assertion with the vault's own verifier
 *   (node:crypto on the thread pool; `vault/src/crypto/jwt-verify.ts`).
 * - `writes`: also, in one better-sqlite3 transaction of prepared statements, record the
 *   assertion's `jti`, take a use of the key (`UPDATE ... RETURNING`) and insert an audit row.
 *   No Kysely, no encryption, no hash chain, and `synchronous=NORMAL`: not even durable.
 * - `complete`: instead of those three writes, everything issue #3 requires of a redemption,
 *   written plainly, durable (floor-complete.ts).
 *
 * The vendor's public key is the JWK in WEBKEY_BENCH_FLOOR_JWK; the keys are floorKeyToken(0) to
 * floorKeyToken(WEBKEY_BENCH_FLOOR_KEYS - 1) (floor-keys.ts), with ids `k0`, `k1`, ... Prints its
 * URL and serves until killed.
 */
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import Database from 'better-sqlite3';
import { Hono } from 'hono';
import { verifyJwt } from '../src/crypto/jwt-verify.ts';
import { openCompleteFloor } from './floor-complete.ts';
import { floorKeyId } from './floor-keys.ts';

const stage = process.env.WEBKEY_BENCH_FLOOR_STAGE;
if (stage !== 'body' && stage !== 'assertion' && stage !== 'writes' && stage !== 'complete')
  throw new Error('WEBKEY_BENCH_FLOOR_STAGE is not body, assertion, writes or complete');
/** The keys `k0`, `k1`, ... the floor's database holds, each with plenty of uses. */
const keys = Number(process.env.WEBKEY_BENCH_FLOOR_KEYS);
const vendorKey = createPublicKey({
  key: JSON.parse(process.env.WEBKEY_BENCH_FLOOR_JWK!),
  format: 'jwk',
});

const dir = mkdtempSync(join(tmpdir(), 'webkey-floor-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGTERM', () => process.exit(0));
const sqlite = new Database(join(dir, 'floor.sqlite'));
sqlite.pragma('journal_mode = WAL');
sqlite.pragma('synchronous = NORMAL');
sqlite.exec(`create table assertion_jtis (jti text primary key, expires_at integer not null);
  create table webkeys (id text primary key, uses_left integer not null);
  create table audit_entries (id integer primary key, key_id text not null, at integer not null);`);
const addKey = sqlite.prepare('insert into webkeys (id, uses_left) values (?, ?)');
for (let i = 0; i < keys; i++) addKey.run(`k${i}`, 1_000_000_000);
const recordJti = sqlite.prepare('insert into assertion_jtis (jti, expires_at) values (?, ?)');
const takeUse = sqlite.prepare(
  'update webkeys set uses_left = uses_left - 1 where id = ? and uses_left > 0 returning uses_left',
);
const addEntry = sqlite.prepare('insert into audit_entries (key_id, at) values (?, ?)');
const redeem = sqlite.transaction((jti: string, exp: number, keyId: string) => {
  recordJti.run(jti, exp);
  const row = takeUse.get(keyId) as { uses_left: number } | undefined;
  addEntry.run(keyId, Date.now());
  return row?.uses_left;
});

const VENDOR_ID = 'https://vendor.example/webkey.json';
const complete = stage === 'complete' ? openCompleteFloor(dir, keys) : undefined;

function readBody(incoming: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    incoming.on('error', reject);
  });
}

const app = new Hono<{ Bindings: { incoming: IncomingMessage } }>();
app.post('/redeem', async (c) => {
  const body = JSON.parse(await readBody(c.env.incoming)) as {
    key: string;
    client_assertion: string;
  };
  c.header('cache-control', 'no-store');
  if (stage === 'body') return c.json({ key: body.key });
  const { payload } = await verifyJwt(body.client_assertion, async () => vendorKey, {
    algorithms: ['ES256'],
    typ: 'JWT',
    currentDate: new Date(),
  });
  if (stage === 'assertion') return c.json({ key: body.key, jti: payload.jti });
  if (stage === 'complete') {
    const answer = await complete!.redeem(
      VENDOR_ID,
      payload.jti as string,
      payload.exp as number,
      body.key,
    );
    if (!answer) return c.json({ error: 'webkey_refused' }, 403);
    return c.json(answer);
  }
  const usesLeft = redeem(payload.jti as string, payload.exp as number, floorKeyId(body.key));
  return c.json({ key: body.key, usesLeft });
});
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
