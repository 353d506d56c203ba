import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { problemSchema, recordVersionSchema } from '@webkey/protocol';
import { VaultCustomer, type VaultResponse } from '@webkey/testkit';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli.ts';
import type { DatabaseConfig } from '../config.ts';
import type { VaultContext } from '../context.ts';
import { DecryptionError } from '../crypto/aead.ts';
import { toBase64Url } from '../crypto/encoding.ts';
import { MASTER_KEY_FILE, parseKeyring } from '../crypto/master-keyring.ts';
import { openDatabase } from '../db/database.ts';
import type { Engine } from '../db/schema.ts';
import { systemRandom } from '../deps.ts';
import {
  createTestStorage,
  startTestVault,
  TEST_ENGINES,
  type TestStorage,
  type TestVault,
} from '../testing/test-vault.ts';
import { openContent, sealContent } from './record-crypto.ts';

const RECORDS = '/api/v1/records';

const MEMBER_ID = 'MEMBER-PLAINTEXT-7731';
const STREET = 'Plaintextstrasse 42';
const NEW_STREET = 'Klartextweg 7';
const INSURANCE = {
  insurer: 'Secretive Mutual',
  memberId: MEMBER_ID,
  groupNumber: 'GRP-PLAIN-5521',
};
const HOME = { lines: [STREET], locality: 'Zuerich', postalCode: '8001', country: 'CH' };
const WORK = { lines: ['Bueroplatz 9'], locality: 'Basel', country: 'CH' };
const SECRETS = [MEMBER_ID, STREET, NEW_STREET, 'GRP-PLAIN-5521', 'Secretive Mutual'];

const ALL_TABLES = [
  'customers',
  'passkeys',
  'sessions',
  'recovery_codes',
  'webauthn_challenges',
  'records',
  'record_versions',
];

/** The encodings a value could show up in if it were stored unencrypted. */
function needles(value: string): Buffer[] {
  return [
    Buffer.from(value, 'utf8'),
    Buffer.from(JSON.stringify(value), 'utf8'),
    Buffer.from(value, 'utf16le'),
  ];
}

function leakedSecrets(haystack: Buffer): string[] {
  return SECRETS.filter((secret) => needles(secret).some((needle) => haystack.includes(needle)));
}

async function signedUp(vault: TestVault): Promise<VaultCustomer> {
  const customer = new VaultCustomer(vault.url);
  await customer.signUp();
  return customer;
}

async function put(customer: VaultCustomer, path: string, content: unknown, ifMatch?: string) {
  const response = await customer.request(
    'PUT',
    `${RECORDS}/${path}`,
    content,
    ifMatch ? { 'if-match': `"${ifMatch}"` } : { 'if-none-match': '*' },
  );
  expect(response.status, JSON.stringify(response.body)).toBe(ifMatch ? 200 : 201);
  return recordVersionSchema.parse(response.body);
}

/** Writes the distinctive records (an insurance, and an address updated once). */
async function writeSecrets(customer: VaultCustomer) {
  const insurance = await put(customer, 'insurance.primary', INSURANCE);
  const home = await put(customer, 'address.home', HOME);
  const moved = await put(
    customer,
    'address.home',
    { ...HOME, lines: [NEW_STREET] },
    home.versionId,
  );
  return { insurance, home, moved };
}

/** Every value of every table as bytes: strings as UTF-8, blobs as they are. */
async function dumpTables(ctx: VaultContext): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const table of ALL_TABLES) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(
      ctx.db,
    );
    for (const row of rows) {
      for (const value of Object.values(row)) {
        if (value instanceof Uint8Array) parts.push(Buffer.from(value));
        else parts.push(Buffer.from(String(value), 'utf8'));
      }
    }
  }
  return Buffer.concat(parts);
}

async function customerIdOf(ctx: VaultContext, versionId: string): Promise<string> {
  const row = await ctx.db
    .selectFrom('record_versions')
    .select('customer_id')
    .where('id', '=', versionId)
    .executeTakeFirstOrThrow();
  return row.customer_id;
}

async function contentOf(ctx: VaultContext, versionId: string): Promise<Uint8Array> {
  const row = await ctx.db
    .selectFrom('record_versions')
    .select('content')
    .where('id', '=', versionId)
    .executeTakeFirstOrThrow();
  if (!row.content) throw new Error(`${versionId} has no content`);
  return row.content;
}

async function setContent(
  ctx: VaultContext,
  versionId: string,
  content: Uint8Array,
): Promise<void> {
  const result = await ctx.db
    .updateTable('record_versions')
    .set({ content })
    .where('id', '=', versionId)
    .executeTakeFirst();
  expect(result.numUpdatedRows).toBe(1n);
}

/** A generic 500 that tells the client nothing about the cause. */
function expectOpaqueFailure(response: VaultResponse): void {
  expect(response.status).toBe(500);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const problem = problemSchema.parse(response.body);
  expect(problem.code).toBe('internal_error');
  expect(problem.requestId).toMatch(/^req_/);
  expect(Object.keys(response.body as object).sort()).toEqual(
    ['code', 'instance', 'requestId', 'status', 'title', 'type'].sort(),
  );
  const text = JSON.stringify(response.body);
  for (const word of ['Decryption', 'decrypt', 'authentication', 'stack', 'at ', '.ts', 'sealed']) {
    expect(text).not.toContain(word);
  }
  expect(leakedSecrets(Buffer.from(text))).toEqual([]);
}

describe.each(TEST_ENGINES)('encryption at rest on %s', (engine) => {
  let vault: TestVault;

  beforeAll(async () => {
    vault = await startTestVault(engine);
  });

  afterAll(async () => {
    await vault?.dispose();
  });

  it('stores no record value in plaintext in any table, current or old versions', async () => {
    const customer = await signedUp(vault);
    const { insurance, moved } = await writeSecrets(customer);
    const stored = await dumpTables(vault.ctx);
    // The dump does hold this customer's rows (paths and version ids are not secret).
    expect(stored.includes(Buffer.from('insurance.primary'))).toBe(true);
    expect(stored.includes(Buffer.from(moved.versionId))).toBe(true);
    expect(leakedSecrets(stored)).toEqual([]);

    const content = Buffer.from(await contentOf(vault.ctx, insurance.versionId));
    expect(content[0]).toBe(1);
    // version byte + nonce + JSON + tag: a ciphertext the size of the JSON, no compression tricks.
    expect(content.byteLength).toBe(1 + 12 + Buffer.byteLength(JSON.stringify(INSURANCE)) + 16);

    // And the API still answers in plaintext.
    const read = await customer.request('GET', `${RECORDS}/insurance.primary`);
    expect(recordVersionSchema.parse(read.body).content).toEqual(INSURANCE);
  });

  it("refuses ciphertexts swapped between two records' current versions with an opaque 500", async () => {
    const customer = await signedUp(vault);
    const home = await put(customer, 'address.home', HOME);
    const work = await put(customer, 'address.work', WORK);
    const other = await put(customer, 'insurance.primary', INSURANCE);
    const homeContent = await contentOf(vault.ctx, home.versionId);
    const workContent = await contentOf(vault.ctx, work.versionId);
    await setContent(vault.ctx, home.versionId, workContent);
    await setContent(vault.ctx, work.versionId, homeContent);

    expectOpaqueFailure(await customer.request('GET', `${RECORDS}/address.home`));
    expectOpaqueFailure(await customer.request('GET', `${RECORDS}/address.work`));
    expectOpaqueFailure(await customer.request('GET', `${RECORDS}/address.home/versions/1`));
    expectOpaqueFailure(await customer.request('GET', `${RECORDS}/address.work/versions`));
    expectOpaqueFailure(await customer.request('GET', `${RECORDS}?category=address`));

    // A record that was not touched still reads.
    const untouched = await customer.request('GET', `${RECORDS}/insurance.primary`);
    expect(untouched.status).toBe(200);
    expect(recordVersionSchema.parse(untouched.body)).toEqual(other);

    // Swapped back, both read again: the failure was the move, nothing else.
    await setContent(vault.ctx, home.versionId, homeContent);
    await setContent(vault.ctx, work.versionId, workContent);
    const restored = await customer.request('GET', `${RECORDS}/address.home`);
    expect(restored.status).toBe(200);
    expect(recordVersionSchema.parse(restored.body).content).toEqual(HOME);
  });

  it('refuses a ciphertext moved to another version of the same record', async () => {
    const customer = await signedUp(vault);
    const { home, moved } = await writeSecrets(customer);
    await setContent(vault.ctx, moved.versionId, await contentOf(vault.ctx, home.versionId));
    expectOpaqueFailure(await customer.request('GET', `${RECORDS}/address.home`));
    const first = await customer.request('GET', `${RECORDS}/address.home/versions/1`);
    expect(first.status).toBe(200);
    expect(recordVersionSchema.parse(first.body).content).toEqual(HOME);
  });

  it("refuses a ciphertext copied to another customer's row", async () => {
    const a = await signedUp(vault);
    const b = await signedUp(vault);
    const homeA = await put(a, 'address.home', HOME);
    const homeB = await put(b, 'address.home', WORK);
    expect(await customerIdOf(vault.ctx, homeA.versionId)).not.toBe(
      await customerIdOf(vault.ctx, homeB.versionId),
    );
    await setContent(vault.ctx, homeB.versionId, await contentOf(vault.ctx, homeA.versionId));

    const stolen = await b.request('GET', `${RECORDS}/address.home`);
    expectOpaqueFailure(stolen);
    const own = await a.request('GET', `${RECORDS}/address.home`);
    expect(own.status).toBe(200);
    expect(recordVersionSchema.parse(own.body).content).toEqual(HOME);
  });

  it("refuses a wrapped data key copied to another customer's row", async () => {
    const a = await signedUp(vault);
    const b = await signedUp(vault);
    const homeA = await put(a, 'address.home', HOME);
    const homeB = await put(b, 'address.home', WORK);
    const idA = await customerIdOf(vault.ctx, homeA.versionId);
    const idB = await customerIdOf(vault.ctx, homeB.versionId);
    const keyA = await vault.ctx.db
      .selectFrom('customers')
      .select(['data_key', 'master_key_id'])
      .where('id', '=', idA)
      .executeTakeFirstOrThrow();
    await vault.ctx.db
      .updateTable('customers')
      .set({ data_key: keyA.data_key, master_key_id: keyA.master_key_id })
      .where('id', '=', idB)
      .execute();
    expectOpaqueFailure(await b.request('GET', `${RECORDS}/address.home`));
    expect((await a.request('GET', `${RECORDS}/address.home`)).status).toBe(200);
  });
});

describe('encryption at rest in the SQLite files', () => {
  it('leaves no record value in the database file or its WAL, before and after closing', async () => {
    const vault = await startTestVault('sqlite');
    try {
      expect(vault.config.database.kind).toBe('sqlite');
      const file = (vault.config.database as Extract<DatabaseConfig, { kind: 'sqlite' }>).file;
      const customer = await signedUp(vault);
      await writeSecrets(customer);

      // While the vault runs, the latest pages live in the write-ahead log.
      const wal = `${file}-wal`;
      expect(existsSync(wal)).toBe(true);
      const walBytes = readFileSync(wal);
      expect(walBytes.byteLength).toBeGreaterThan(0);
      expect(walBytes.includes(Buffer.from('insurance.primary'))).toBe(true);
      const running = Buffer.concat(
        [file, wal, `${file}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
      );
      expect(leakedSecrets(running)).toEqual([]);

      await vault.close();
      const closed = Buffer.concat(
        [file, wal, `${file}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
      );
      // After closing, the log has been checkpointed into the main file.
      expect(closed.includes(Buffer.from('insurance.primary'))).toBe(true);
      expect(leakedSecrets(closed)).toEqual([]);
      for (const name of readdirSync(vault.storage.dataDir)) {
        const path = join(vault.storage.dataDir, name);
        if (statSync(path).isFile()) expect(leakedSecrets(readFileSync(path)), name).toEqual([]);
      }
    } finally {
      await vault.dispose();
    }
  });
});

describe('record-crypto', () => {
  const dataKey = systemRandom(32);
  const at = { customerId: 'cus_a', path: 'address.home', version: 2 };

  it('round-trips content bound to customer, path and version', () => {
    const sealed = sealContent(systemRandom, dataKey, at, HOME);
    expect(leakedSecrets(Buffer.from(sealed))).toEqual([]);
    expect(openContent(dataKey, at, sealed)).toEqual(HOME);
  });

  it.each([
    ['another path', { ...at, path: 'address.work' }],
    ['another version', { ...at, version: 1 }],
    ['another customer', { ...at, customerId: 'cus_b' }],
  ])('refuses to open under %s', (_, other) => {
    const sealed = sealContent(systemRandom, dataKey, at, HOME);
    expect(() => openContent(dataKey, other, sealed)).toThrow(DecryptionError);
  });

  it('refuses to open with another data key', () => {
    const sealed = sealContent(systemRandom, dataKey, at, HOME);
    expect(() => openContent(systemRandom(32), at, sealed)).toThrow(DecryptionError);
  });
});

const newKeyText = () => toBase64Url(systemRandom(32));
const keyId = (keyText: string) => parseKeyring(keyText, 'test').current.id;

async function masterKeyIds(database: DatabaseConfig): Promise<string[]> {
  const opened = openDatabase(database);
  try {
    const rows = await opened.db.selectFrom('customers').select('master_key_id').execute();
    return rows.map((row) => row.master_key_id);
  } finally {
    await opened.close();
  }
}

/** The environment the command line needs to reach a test storage. */
function cliEnvironment(storage: TestStorage): NodeJS.ProcessEnv {
  const { database } = storage;
  if (database.kind === 'sqlite') return { WEBKEY_DATA_DIR: storage.dataDir };
  const url = new URL(database.url);
  url.searchParams.set('options', `-c search_path=${database.schema}`);
  return { WEBKEY_DATA_DIR: storage.dataDir, DATABASE_URL: url.toString() };
}

describe('master key rotation', () => {
  let storage: TestStorage | undefined;
  let output: string[];

  beforeEach(() => {
    output = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    });
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await storage?.dispose();
    storage = undefined;
  });

  it('rotates the key file; a restarted vault reads every old record under the new key', async () => {
    storage = await createTestStorage('sqlite');
    const vault = await startTestVault('sqlite', { storage });
    const file = join(storage.dataDir, MASTER_KEY_FILE);
    const ada = await signedUp(vault);
    const bob = await signedUp(vault);
    const adaRecords = await writeSecrets(ada);
    const bobHome = await put(bob, 'address.home', WORK);
    await vault.close();

    const before = parseKeyring(readFileSync(file, 'utf8'), file);
    expect(before.keys).toHaveLength(1);
    expect(await masterKeyIds(storage.database)).toEqual([before.current.id, before.current.id]);

    const code = await main(['keys', 'rotate-master'], { WEBKEY_DATA_DIR: storage.dataDir });
    expect(code, output.join('')).toBe(0);

    const after = parseKeyring(readFileSync(file, 'utf8'), file);
    expect(after.keys).toHaveLength(1);
    expect(after.current.id).not.toBe(before.current.id);
    expect(after.current.key).not.toEqual(before.current.key);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(storage.dataDir).filter((name) => name.includes('.tmp'))).toEqual([]);
    expect(await masterKeyIds(storage.database)).toEqual([after.current.id, after.current.id]);
    expect(output.join('')).toContain(
      `re-wrapped 2 data keys and 1 signing keys; master key is now ${after.current.id}`,
    );
    expect(leakedSecrets(Buffer.from(output.join('')))).toEqual([]);

    const restarted = await startTestVault('sqlite', { storage });
    try {
      // A new port makes a new origin; the passkey (rp id localhost) is the same.
      const adaAgain = new VaultCustomer(restarted.url, { authenticator: ada.authenticator });
      expect((await adaAgain.signIn()).status).toBe(200);
      const home = await adaAgain.request('GET', `${RECORDS}/address.home`);
      expect(home.status).toBe(200);
      expect(recordVersionSchema.parse(home.body)).toEqual(adaRecords.moved);
      const old = await adaAgain.request('GET', `${RECORDS}/address.home/versions/1`);
      expect(recordVersionSchema.parse(old.body)).toEqual(adaRecords.home);
      const insurance = await adaAgain.request('GET', `${RECORDS}/insurance.primary`);
      expect(recordVersionSchema.parse(insurance.body)).toEqual(adaRecords.insurance);

      const bobAgain = new VaultCustomer(restarted.url, { authenticator: bob.authenticator });
      expect((await bobAgain.signIn()).status).toBe(200);
      const bobRead = await bobAgain.request('GET', `${RECORDS}/address.home`);
      expect(bobRead.status).toBe(200);
      expect(recordVersionSchema.parse(bobRead.body)).toEqual(bobHome);

      // New writes work too, and a new customer's key is wrapped by the new master key.
      const moved = await put(adaAgain, 'address.home', HOME, adaRecords.moved.versionId);
      expect(moved.version).toBe(3);
      await signedUp(restarted);
    } finally {
      await restarted.close();
    }
    expect(await masterKeyIds(storage.database)).toEqual([
      after.current.id,
      after.current.id,
      after.current.id,
    ]);
  }, 30_000);

  it('loses no customer who signs up while the key file rotates', async () => {
    storage = await createTestStorage('sqlite');
    // Sign-ups back to back for the whole rotation: more than one address's ceremony budget.
    const vault = await startTestVault('sqlite', {
      storage,
      config: { ceremonyStartsPerMinute: 100_000 },
    });
    const customers: VaultCustomer[] = [];
    let rotating = true;
    const signingUp = (async () => {
      while (rotating) {
        const customer = new VaultCustomer(vault.url);
        try {
          await customer.signUp();
          customers.push(customer);
        } catch (error) {
          // The rotation's re-wrap holds the write lock in batches: a sign-up that waited too
          // long is answered 503 and stores nothing, so it is no customer to lose.
          if (!/got 503/.test(String(error))) throw error;
        }
      }
    })();
    const code = await main(['keys', 'rotate-master'], { WEBKEY_DATA_DIR: storage.dataDir });
    rotating = false;
    await signingUp;
    await vault.close();
    expect(code, output.join('')).toBe(0);
    const file = join(storage.dataDir, MASTER_KEY_FILE);
    const after = parseKeyring(readFileSync(file, 'utf8'), file);
    expect(after.keys).toHaveLength(1);
    // However slow the machine, sign-ups ran during the rotation.
    expect(customers.length).toBeGreaterThan(0);
    expect(new Set(await masterKeyIds(storage.database))).toEqual(new Set([after.current.id]));
    const restarted = await startTestVault('sqlite', {
      storage,
      config: { ceremonyStartsPerMinute: 100_000 },
    });
    try {
      for (const customer of customers) {
        const again = new VaultCustomer(restarted.url, { authenticator: customer.authenticator });
        expect((await again.signIn()).status).toBe(200);
        expect((await again.request('GET', RECORDS)).status).toBe(200);
      }
    } finally {
      await restarted.close();
    }
  }, 40_000);

  it('rotates the file twice in a row', async () => {
    storage = await createTestStorage('sqlite');
    const vault = await startTestVault('sqlite', { storage });
    const ada = await signedUp(vault);
    const { moved } = await writeSecrets(ada);
    await vault.close();
    expect(await main(['keys', 'rotate-master'], { WEBKEY_DATA_DIR: storage.dataDir })).toBe(0);
    expect(await main(['keys', 'rotate-master'], { WEBKEY_DATA_DIR: storage.dataDir })).toBe(0);
    const file = join(storage.dataDir, MASTER_KEY_FILE);
    const keyring = parseKeyring(readFileSync(file, 'utf8'), file);
    expect(keyring.keys).toHaveLength(1);
    expect(await masterKeyIds(storage.database)).toEqual([keyring.current.id]);
    const restarted = await startTestVault('sqlite', { storage });
    try {
      const again = new VaultCustomer(restarted.url, { authenticator: ada.authenticator });
      expect((await again.signIn()).status).toBe(200);
      const read = await again.request('GET', `${RECORDS}/address.home`);
      expect(read.status).toBe(200);
      expect(recordVersionSchema.parse(read.body)).toEqual(moved);
    } finally {
      await restarted.close();
    }
  }, 40_000);

  describe.each(TEST_ENGINES)('with WEBKEY_MASTER_KEY on %s', (engine: Engine) => {
    it('re-wraps under the first key of the variable; a vault with only the new key reads all', async () => {
      const oldKey = newKeyText();
      const newKey = newKeyText();
      storage = await createTestStorage(engine);
      const vault = await startTestVault(engine, { storage, config: { masterKey: oldKey } });
      const ada = await signedUp(vault);
      const bob = await signedUp(vault);
      const adaRecords = await writeSecrets(ada);
      const bobHome = await put(bob, 'address.home', WORK);
      await vault.close();
      expect(await masterKeyIds(storage.database)).toEqual([keyId(oldKey), keyId(oldKey)]);

      const code = await main(['keys', 'rotate-master'], {
        ...cliEnvironment(storage),
        WEBKEY_MASTER_KEY: `${newKey},${oldKey}`,
      });
      expect(code, output.join('')).toBe(0);
      expect(await masterKeyIds(storage.database)).toEqual([keyId(newKey), keyId(newKey)]);
      expect(existsSync(join(storage.dataDir, MASTER_KEY_FILE))).toBe(false);
      expect(output.join('')).toContain(
        `re-wrapped 2 data keys and 1 signing keys; master key is now ${keyId(newKey)}`,
      );
      expect(output.join('')).toContain(
        `keep ${keyId(newKey)}; ${keyId(oldKey)} in WEBKEY_MASTER_KEY protect nothing now and can be removed`,
      );
      expect(output.join('')).not.toContain(newKey);
      expect(output.join('')).not.toContain(oldKey);

      const restarted = await startTestVault(engine, { storage, config: { masterKey: newKey } });
      try {
        const adaAgain = new VaultCustomer(restarted.url, { authenticator: ada.authenticator });
        expect((await adaAgain.signIn()).status).toBe(200);
        const list = await adaAgain.request<{ records: unknown[] }>('GET', RECORDS);
        expect(list.status).toBe(200);
        expect(list.body.records).toEqual([adaRecords.moved, adaRecords.insurance]);
        const history = await adaAgain.request<{ versions: unknown[] }>(
          'GET',
          `${RECORDS}/address.home/versions`,
        );
        expect(history.body.versions).toEqual([adaRecords.moved, adaRecords.home]);
        const bobAgain = new VaultCustomer(restarted.url, { authenticator: bob.authenticator });
        expect((await bobAgain.signIn()).status).toBe(200);
        const bobRead = await bobAgain.request('GET', `${RECORDS}/address.home`);
        expect(recordVersionSchema.parse(bobRead.body)).toEqual(bobHome);
      } finally {
        await restarted.close();
      }

      // The old key alone no longer unwraps anything: the secrets really moved. The vault cannot
      // even open its signing keys, so it refuses to start.
      await expect(
        startTestVault(engine, { storage, config: { masterKey: oldKey } }),
      ).rejects.toThrow(/is not in the keyring/);
    }, 30_000);
  });
});
