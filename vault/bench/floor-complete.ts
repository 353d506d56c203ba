/**
 * The floor's `complete` stage (floor-server.ts): everything issue #3 requires of a redemption,
 * written as plainly and cheaply as the vault's stack allows, so the gap between it and the
 * redemption is what the vault's own structure costs (Kysely, async steps, validation,
 * metrics), and the floor itself is what no structure can go below.
 *
 * It does, per request: recognise the key by the SHA-256 of its bytes; then, in one transaction
 * of prepared better-sqlite3 statements, record the assertion's `jti`, take a use (`UPDATE ...
 * RETURNING`, checking uses, revocation and expiry), read the customer's wrapped data key and
 * unwrap it under the master key (AES-256-GCM), read and decrypt the two scoped records, derive
 * the age claim and the pairwise subject (HKDF, HMAC), read the chain head, append the
 * hash-chained audit entry (SHA-256 over canonical JSON) sealed under the data key; and it
 * answers only once the commit is durable. Durability is the vault's own scheme
 * (group-commit.ts), written plainly: transactions that run in one turn of the event loop commit
 * together, and one fdatasync of the WAL covers every commit before it.
 *
 * It leaves out what the vault does beyond the letter: pairwise version ids, the
 * up-front replay check, idempotency records, refusal auditing and budgets, metrics and logs.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { fdatasync, openSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, GENESIS_HASH, isAgeAtLeast } from '@webkey/protocol';
import Database from 'better-sqlite3';
import { open, seal } from '../src/crypto/aead.ts';
import { sha256Hex, toBase64Url } from '../src/crypto/encoding.ts';
import { hkdfSha256 } from '../src/crypto/hkdf.ts';
import { systemRandom as random } from '../src/deps.ts';
import { FLOOR_SCOPE, floorKeyId, floorKeyToken } from './floor-keys.ts';

const CUSTOMERS = 20;
const utf8 = (text: string) => Buffer.from(text, 'utf8');
const wrapContext = (customerId: string) => `webkey:data-key:v1:${customerId}`;
const recordContext = (customerId: string, path: string, version: number) =>
  `webkey:record:v1:${customerId}:${path}:${version}`;
const auditContext = (customerId: string, seq: number) => `webkey:audit:v1:${customerId}:${seq}`;

/** What a complete floor redemption answers: the granted data and the audit entry's id. */
export interface FloorAnswer {
  keyId: string;
  subject: string;
  usesLeft: number;
  fields: Record<string, { versionId: string; value: unknown }>;
  claims: Record<string, boolean>;
  auditEntryId: string;
}

/** Opens the complete floor's database in `dir`, with keys `k0` to `k<keys - 1>`. */
export function openCompleteFloor(dir: string, keys: number) {
  const file = join(dir, 'complete.sqlite');
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.exec(`
    create table customers (id text primary key, data_key blob not null);
    create table records (customer_id text not null, path text not null, version integer not null,
      version_id text not null, content blob not null, primary key (customer_id, path));
    create table webkeys (id text primary key, customer_id text not null, token_hash text not null,
      scope text not null, purpose text not null, audience text, expires_at integer not null,
      revoked_at integer, uses_left integer not null, last_redeemed_at integer);
    create table assertion_jtis (vendor_id text not null, jti text not null,
      expires_at integer not null, primary key (vendor_id, jti));
    create table audit_entries (id text primary key, customer_id text not null,
      seq integer not null, at integer not null, hash text not null, body blob not null,
      unique (customer_id, seq));`);
  const masterKey = random(32);
  const seed = sqlite.transaction(() => {
    const addCustomer = sqlite.prepare('insert into customers (id, data_key) values (?, ?)');
    const addRecord = sqlite.prepare(
      'insert into records (customer_id, path, version, version_id, content) values (?, ?, 1, ?, ?)',
    );
    for (let c = 0; c < CUSTOMERS; c++) {
      const id = `cus_${c}`;
      const dataKey = random(32);
      addCustomer.run(id, seal(masterKey, dataKey, wrapContext(id), random));
      const records = {
        'address.home': { line1: `${c} Main Street`, city: 'Springfield', postalCode: '12345' },
        profile: { legalName: `Floor Customer ${c}`, birthDate: '1980-01-01' },
      };
      for (const [path, value] of Object.entries(records)) {
        const sealed = seal(
          dataKey,
          utf8(JSON.stringify(value)),
          recordContext(id, path, 1),
          random,
        );
        addRecord.run(id, path, `ver_${c}_${path}`, sealed);
      }
    }
    const addKey = sqlite.prepare(
      `insert into webkeys (id, customer_id, token_hash, scope, purpose, expires_at, uses_left)
       values (?, ?, ?, ?, 'Delivery to your home address', ?, 1000000000)`,
    );
    for (let i = 0; i < keys; i++) {
      const token = floorKeyToken(i);
      addKey.run(
        `k${i}`,
        `cus_${i % CUSTOMERS}`,
        sha256Hex(token),
        JSON.stringify(FLOOR_SCOPE),
        4e12,
      );
    }
  });
  seed();

  const keyById = sqlite.prepare('select id, token_hash from webkeys where id = ?');
  const recordJti = sqlite.prepare(
    'insert into assertion_jtis (vendor_id, jti, expires_at) values (?, ?, ?)',
  );
  const takeUse = sqlite.prepare(
    `update webkeys set uses_left = uses_left - 1, last_redeemed_at = ?
     where id = ? and uses_left > 0 and revoked_at is null and expires_at > ?
       and (audience is null or audience = ?)
     returning customer_id, scope, purpose, uses_left`,
  );
  const customerKey = sqlite.prepare('select data_key from customers where id = ?');
  /** The customer's data key, unwrapped under the master key. */
  const dataKeyOf = (customerId: string) =>
    open(
      masterKey,
      (customerKey.get(customerId) as { data_key: Uint8Array }).data_key,
      wrapContext(customerId),
    );
  const currentRecords = sqlite.prepare(
    'select path, version, version_id, content from records where customer_id = ? and path in (?, ?)',
  );
  const chainHead = sqlite.prepare(
    'select seq, hash from audit_entries where customer_id = ? order by seq desc limit 1',
  );
  const insertEntry = sqlite.prepare(
    'insert into audit_entries (id, customer_id, seq, at, hash, body) values (?, ?, ?, ?, ?, ?)',
  );
  const begin = sqlite.prepare('begin immediate');
  const savepoint = sqlite.prepare('savepoint redemption');
  const release = sqlite.prepare('release redemption');
  const rollbackTo = sqlite.prepare('rollback to redemption');
  const commit = sqlite.prepare('commit');

  /** The work of one redemption, inside the open group's transaction. */
  function redeemInTransaction(vendorId: string, jti: string, exp: number, keyId: string) {
    const now = Date.now();
    recordJti.run(vendorId, jti, exp);
    const key = takeUse.get(now, keyId, now, vendorId) as
      | { customer_id: string; scope: string; purpose: string; uses_left: number }
      | undefined;
    if (!key) return undefined;
    const customerId = key.customer_id;
    const dataKey = dataKeyOf(customerId);
    const scope = JSON.parse(key.scope) as string[];
    const fields: FloorAnswer['fields'] = {};
    let birthDate: string | undefined;
    const rows = currentRecords.all(customerId, 'address.home', 'profile') as Array<{
      path: string;
      version: number;
      version_id: string;
      content: Uint8Array;
    }>;
    for (const row of rows) {
      const value = JSON.parse(
        Buffer.from(
          open(dataKey, row.content, recordContext(customerId, row.path, row.version)),
        ).toString('utf8'),
      );
      if (row.path === 'profile') birthDate = value.birthDate;
      if (scope.includes(row.path)) fields[row.path] = { versionId: row.version_id, value };
    }
    const claims = { 'profile.age_over_21': isAgeAtLeast(birthDate!, 21, new Date(now)) };
    const subjectKey = hkdfSha256(dataKey, new Uint8Array(0), 'webkey pairwise subject v1', 32);
    const subject = toBase64Url(createHmac('sha256', subjectKey).update(vendorId).digest());
    const head = chainHead.get(customerId) as { seq: number; hash: string } | undefined;
    const seq = (head?.seq ?? 0) + 1;
    const body = {
      id: `aud_${toBase64Url(random(16))}`,
      seq,
      at: new Date(now).toISOString(),
      event: 'key_redeemed',
      vendor: { id: vendorId, name: 'Bench Vendor' },
      keyId,
      paths: [...Object.keys(fields), ...Object.keys(claims)],
      purpose: key.purpose,
      ip: '127.0.0.1',
      userAgent: null,
      outcome: 'success',
      reason: null,
      prevHash: head?.hash ?? GENESIS_HASH,
    };
    const hash = sha256Hex(canonicalJson(body));
    const sealed = seal(
      dataKey,
      utf8(JSON.stringify({ ...body, hash })),
      auditContext(customerId, seq),
      random,
    );
    insertEntry.run(body.id, customerId, seq, now, hash, sealed);
    return { keyId, subject, usesLeft: key.uses_left, fields, claims, auditEntryId: body.id };
  }

  // Group commit: the transactions run in one turn of the event loop commit together, and one
  // fdatasync of the WAL (off the main thread) makes every commit before it durable.
  const wal = openSync(`${file}-wal`, 'r');
  let groupOpen = false;
  let committed: Array<() => void> = [];
  let syncing = false;
  let synced: Array<() => void> = [];
  function syncWal(): void {
    if (syncing || committed.length === 0) return;
    syncing = true;
    const waiting = committed;
    committed = [];
    fdatasync(wal, (error) => {
      if (error) throw error;
      syncing = false;
      for (const resolve of waiting) resolve();
      syncWal();
    });
  }
  function commitGroup(): void {
    commit.run();
    groupOpen = false;
    committed.push(...synced);
    synced = [];
    syncWal();
  }

  const entriesOf = sqlite.prepare(
    'select seq, body from audit_entries where customer_id = ? order by seq',
  );

  return {
    /** A customer's audit entries, opened, oldest first (for tests). */
    auditEntries(customerId: string): unknown[] {
      const dataKey = dataKeyOf(customerId);
      return (entriesOf.all(customerId) as Array<{ seq: number; body: Uint8Array }>).map((row) =>
        JSON.parse(
          Buffer.from(open(dataKey, row.body, auditContext(customerId, row.seq))).toString('utf8'),
        ),
      );
    },
    close(): void {
      sqlite.close();
    },
    /** Redeems one use of a key; resolves once durable, to undefined when it is refused. */
    redeem(
      vendorId: string,
      jti: string,
      exp: number,
      token: string,
    ): Promise<FloorAnswer | undefined> {
      const keyId = floorKeyId(token);
      const stored = keyById.get(keyId) as { id: string; token_hash: string } | undefined;
      const presented = Buffer.from(sha256Hex(token), 'hex');
      if (!stored || !timingSafeEqual(Buffer.from(stored.token_hash, 'hex'), presented)) {
        return Promise.resolve(undefined);
      }
      if (!groupOpen) {
        begin.run();
        groupOpen = true;
        setImmediate(commitGroup);
      }
      savepoint.run();
      let answer: FloorAnswer | undefined;
      try {
        answer = redeemInTransaction(vendorId, jti, exp, keyId);
        release.run();
      } catch (error) {
        rollbackTo.run();
        release.run();
        throw error;
      }
      return new Promise((resolve) => synced.push(() => resolve(answer)));
    },
  };
}
