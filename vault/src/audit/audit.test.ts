import {
  type AuditEntry,
  type AuditExport,
  auditEntryHash,
  auditEntrySchema,
  auditExportSchema,
  CHECKPOINT_JWT_TYPE,
  type IssuedWebkey,
  issuedWebkeySchema,
  jwksSchema,
  recordVersionSchema,
  verifyAuditExport,
} from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { decodeJwt, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';

const AUDIT = '/api/v1/audit';

/** A purpose a spreadsheet would run as a formula, with commas and quotes in it. */
const FORMULA_PURPOSE = '=HYPERLINK("http://evil.example","Click, here")';
const QUOTED_PURPOSE = 'Delivery, "express" please';

const CSV_HEADER =
  'seq,at,event,vendor_id,vendor_name,key_id,paths,purpose,ip,user_agent,outcome,reason,prev_hash,hash';

/** RFC 4180 parsing, strict enough to notice a cell that was not quoted when it had to be. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') {
      if (cell !== '') throw new Error(`stray quote in row ${rows.length + 1}`);
      quoted = true;
    } else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += char;
  }
  if (quoted) throw new Error('unterminated quoted cell');
  if (cell !== '' || row.length > 0) throw new Error('the last row does not end with CRLF');
  return rows;
}

function flipSignatureByte(jws: string): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[20]! ^= 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

describe.each(TEST_ENGINES)('audit log on %s', (engine) => {
  const clock = testClock(Math.floor(Date.now() / 1000) * 1000);
  let vault: TestVault;
  let acme: TestVendor;
  let ada: VaultCustomer;
  let customerId: string;
  let delivery: IssuedWebkey;
  let parcel: IssuedWebkey;
  /** The whole log as the list shows it, newest first. */
  let entries: AuditEntry[];
  let exported: AuditExport;

  /** Advances the clock a second, so every entry has its own time. */
  const tick = () => clock.advance(1000);

  async function redeem(key: IssuedWebkey) {
    const now = Math.floor(clock().getTime() / 1000);
    return acme.redeem(
      vault.url,
      { key: key.key },
      { assertion: await acme.assertion(vault.url, { claims: { iat: now, exp: now + 60 } }) },
    );
  }

  async function issue(purpose: string): Promise<IssuedWebkey> {
    const response = await ada.request('POST', '/api/v1/webkeys', {
      scope: ['address.home'],
      purpose,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return issuedWebkeySchema.parse(response.body);
  }

  async function page(
    query: string,
  ): Promise<{ entries: AuditEntry[]; nextBefore: number | null }> {
    const response = await ada.request<{ entries: unknown[]; nextBefore: number | null }>(
      'GET',
      `${AUDIT}${query}`,
    );
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return {
      entries: response.body.entries.map((e) => auditEntrySchema.parse(e)),
      nextBefore: response.body.nextBefore,
    };
  }

  async function exportJson(): Promise<AuditExport> {
    const response = await ada.request('GET', `${AUDIT}/export`);
    expect(response.status).toBe(200);
    return auditExportSchema.parse(response.body);
  }

  const seqs = (list: AuditEntry[]) => list.map((e) => e.seq);

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock, config: { devMode: true } });
    acme = await TestVendor.start('Acme Optics');

    // One customer's story: every kind of event, a second apart.
    ada = new VaultCustomer(vault.url);
    await ada.signUp();
    tick();
    const home = await ada.request('PUT', '/api/v1/records/address.home', {
      lines: ['12 St James Square'],
      locality: 'London',
      country: 'GB',
    });
    expect(home.status).toBe(201);
    tick();
    const moved = await ada.request(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['Ockham Park'], locality: 'Ockham', country: 'GB' },
      { 'if-match': `"${recordVersionSchema.parse(home.body).versionId}"` },
    );
    expect(moved.status).toBe(200);
    tick();
    const work = await ada.request('PUT', '/api/v1/records/address.work', {
      lines: ['1 Analytical Row'],
      locality: 'London',
      country: 'GB',
    });
    expect(work.status).toBe(201);
    tick();
    const removed = await ada.request('DELETE', '/api/v1/records/address.work', undefined, {
      'if-match': `"${recordVersionSchema.parse(work.body).versionId}"`,
    });
    expect(removed.status).toBe(200);
    tick();
    delivery = await issue(FORMULA_PURPOSE);
    tick();
    expect((await redeem(delivery)).status).toBe(200);
    tick();
    expect((await redeem(delivery)).status).toBe(403);
    tick();
    parcel = await issue(QUOTED_PURPOSE);
    tick();
    expect((await ada.request('DELETE', `/api/v1/webkeys/${parcel.id}`)).status).toBe(200);
    tick();
    expect((await ada.signIn()).status).toBe(200);

    const row = await vault.ctx.db
      .selectFrom('customers')
      .select('id')
      .where('user_handle', '=', ada.authenticator.credentials[0]!.userHandle)
      .executeTakeFirstOrThrow();
    customerId = row.id;
    entries = (await page('?limit=500')).entries;
    exported = await exportJson();
  });

  afterAll(async () => {
    await acme?.stop();
    await vault?.dispose();
  });

  describe('list', () => {
    it('lists every event newest first, hash-chained', async () => {
      expect(entries.map((e) => [e.seq, e.event, e.reason])).toEqual([
        [11, 'signed_in', 'passkey'],
        [10, 'key_revoked', null],
        [9, 'key_issued', null],
        [8, 'key_refused', 'used_up'],
        [7, 'key_redeemed', null],
        [6, 'key_issued', null],
        [5, 'record_changed', 'deleted'],
        [4, 'record_changed', 'created'],
        [3, 'record_changed', 'updated'],
        [2, 'record_changed', 'created'],
        [1, 'signed_up', null],
      ]);
      const start = clock().getTime() - 10_000;
      for (const [index, entry] of entries.entries()) {
        expect(entry.at).toBe(new Date(start + (10 - index) * 1000).toISOString());
        expect(entry.prevHash).toBe(entries[index + 1]?.hash ?? '0'.repeat(64));
        expect(entry.hash).toBe(await auditEntryHash(entry));
        expect(entry.id).toMatch(/^aud_[0-9a-f]{12}[A-Za-z0-9_-]{14}$/);
        expect(entry.userAgent).toBe('node');
      }
      expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length);
      // Ids begin with the entry's time, so the table's key index fills in time order.
      const ids = entries.map((e) => e.id);
      expect(ids).toEqual([...ids].sort().reverse());
      expect(ids.map((id) => Number.parseInt(id.slice(4, 16), 16))).toEqual(
        entries.map((e) => Date.parse(e.at)),
      );
    });

    it('records who, what and why for each event', () => {
      const bySeq = (seq: number) => entries.find((e) => e.seq === seq);
      const acmeRef = { id: acme.id, name: 'Acme Optics' };
      expect(bySeq(2)).toMatchObject({ paths: ['address.home'], keyId: null, vendor: null });
      expect(bySeq(5)).toMatchObject({ paths: ['address.work'], outcome: 'success' });
      expect(bySeq(6)).toMatchObject({
        keyId: delivery.id,
        paths: ['address.home'],
        purpose: FORMULA_PURPOSE,
        vendor: null,
        outcome: 'success',
      });
      expect(bySeq(7)).toMatchObject({
        keyId: delivery.id,
        vendor: acmeRef,
        paths: ['address.home'],
        purpose: FORMULA_PURPOSE,
        outcome: 'success',
      });
      expect(bySeq(8)).toMatchObject({
        keyId: delivery.id,
        vendor: acmeRef,
        purpose: FORMULA_PURPOSE,
        outcome: 'refused',
        reason: 'used_up',
      });
      expect(bySeq(9)).toMatchObject({ keyId: parcel.id, purpose: QUOTED_PURPOSE });
      expect(bySeq(10)).toMatchObject({ keyId: parcel.id, purpose: QUOTED_PURPOSE, vendor: null });
      // Every request, the customer's and the vendor's, came from this machine.
      for (const entry of entries)
        expect(['127.0.0.1', '::ffff:127.0.0.1'], `seq ${entry.seq}`).toContain(entry.ip);
    });

    it('pages backwards with limit and before/nextBefore', async () => {
      const first = await page('?limit=4');
      expect(seqs(first.entries)).toEqual([11, 10, 9, 8]);
      expect(first.nextBefore).toBe(8);
      const second = await page(`?limit=4&before=${first.nextBefore}`);
      expect(seqs(second.entries)).toEqual([7, 6, 5, 4]);
      expect(second.nextBefore).toBe(4);
      const third = await page(`?limit=4&before=${second.nextBefore}`);
      expect(seqs(third.entries)).toEqual([3, 2, 1]);
      expect(third.nextBefore).toBeNull();
      expect([...first.entries, ...second.entries, ...third.entries]).toEqual(entries);

      const exact = await page('?limit=3&before=4');
      expect(seqs(exact.entries)).toEqual([3, 2, 1]);
      expect(exact.nextBefore).toBeNull();
      const all = await page('');
      expect(all.entries).toEqual(entries);
      expect(all.nextBefore).toBeNull();
      expect((await page('?before=1')).entries).toEqual([]);
    });

    it('filters by vendor and by event, and pages within a filter', async () => {
      const byVendor = await page(`?vendor=${encodeURIComponent(acme.id)}`);
      expect(byVendor.entries.map((e) => [e.seq, e.event])).toEqual([
        [8, 'key_refused'],
        [7, 'key_redeemed'],
      ]);
      expect((await page('?vendor=https%3A%2F%2Fnobody.example%2Fv.json')).entries).toEqual([]);

      const issued = await page('?event=key_issued');
      expect(seqs(issued.entries)).toEqual([9, 6]);
      expect(seqs((await page('?event=signed_up')).entries)).toEqual([1]);
      const both = await page(`?event=key_redeemed&vendor=${encodeURIComponent(acme.id)}`);
      expect(seqs(both.entries)).toEqual([7]);

      const changes = await page('?event=record_changed&limit=2');
      expect(seqs(changes.entries)).toEqual([5, 4]);
      expect(changes.nextBefore).toBe(4);
      const rest = await page(`?event=record_changed&limit=2&before=${changes.nextBefore}`);
      expect(seqs(rest.entries)).toEqual([3, 2]);
      expect(rest.nextBefore).toBeNull();
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['limit=1.5', 'limit'],
      ['before=0', 'before'],
      ['before=-3', 'before'],
      ['event=nope', 'event'],
      ['event=KEY_ISSUED', 'event'],
    ])('refuses the query %s with 400', async (query, pointer) => {
      const problem = expectProblem(
        await ada.request('GET', `${AUDIT}?${query}`),
        400,
        'invalid_request',
      );
      expect(problem.errors?.map((e) => e.pointer)).toEqual([pointer]);
    });

    it('refuses an unknown query parameter with 400', async () => {
      expectProblem(await ada.request('GET', `${AUDIT}?customer=cus_x`), 400, 'invalid_request');
      expectProblem(await ada.request('GET', `${AUDIT}/export?format=xml`), 400, 'invalid_request');
    });

    it("keeps each customer's log to itself", async () => {
      const bob = new VaultCustomer(vault.url);
      await bob.signUp();
      const response = await bob.request<{ entries: unknown[] }>('GET', AUDIT);
      expect(response.status).toBe(200);
      const own = response.body.entries.map((e) => auditEntrySchema.parse(e));
      expect(own.map((e) => [e.seq, e.event])).toEqual([[1, 'signed_up']]);
      expect(own[0]?.prevHash).toBe('0'.repeat(64));
      expect((await page('?limit=500')).entries).toEqual(entries);
    });

    it('refuses the log and its export without a session (401)', async () => {
      const anonymous = new VaultCustomer(vault.url);
      for (const path of [
        AUDIT,
        `${AUDIT}?limit=5`,
        `${AUDIT}/export`,
        `${AUDIT}/export?format=csv`,
      ])
        expectProblem(await anonymous.request('GET', path), 401, 'unauthenticated');
      const forged = await anonymous.request('GET', AUDIT, undefined, {
        cookie: 'webkey_session=forged-session-secret',
      });
      expectProblem(forged, 401, 'unauthenticated');
    });
  });

  describe('JSON export', () => {
    it('exports the whole log oldest first with a signed checkpoint, and it verifies', async () => {
      expect(exported).toMatchObject({
        format: 'webkey-audit-v1',
        issuer: vault.url,
        exportedAt: clock().toISOString(),
      });
      expect(exported.entries).toEqual([...entries].reverse());
      expect(decodeProtectedHeader(exported.checkpoint)).toMatchObject({
        alg: 'ES256',
        typ: 'webkey-checkpoint+jwt',
      });
      expect(decodeJwt(exported.checkpoint)).toMatchObject({
        iss: vault.url,
        seq: 11,
        head: entries[0]?.hash,
      });
      expect(await verifyAuditExport(exported)).toEqual({
        ok: true,
        entries: 11,
        head: entries[0]?.hash,
      });

      const live = jwksSchema.parse(
        await (await fetch(`${vault.url}/.well-known/jwks.json`)).json(),
      ) as JSONWebKeySet;
      expect(await verifyAuditExport(exported, { jwks: live })).toMatchObject({
        ok: true,
        entries: 11,
      });
    });

    it('serves the export as a no-store attachment', async () => {
      const response = await ada.request('GET', `${AUDIT}/export?format=json`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('content-disposition')).toBe(
        `attachment; filename="webkey-audit-${clock().toISOString().slice(0, 10)}.json"`,
      );
      expect(await verifyAuditExport(response.body)).toMatchObject({ ok: true, entries: 11 });
    });

    const tamperings: [
      string,
      (log: AuditExport) => Promise<void> | void,
      { index: number; seq?: number; reason: RegExp },
    ][] = [
      [
        "an entry's purpose edited",
        (log) => {
          log.entries[5]!.purpose = 'Nothing to see here';
        },
        { index: 5, seq: 6, reason: /altered/ },
      ],
      [
        "an entry's vendor edited",
        (log) => {
          log.entries[6]!.vendor = { id: 'https://innocent.example/v.json', name: 'Innocent' };
        },
        { index: 6, seq: 7, reason: /altered/ },
      ],
      [
        'a middle entry deleted',
        (log) => {
          log.entries.splice(4, 1);
        },
        { index: 4, seq: 6, reason: /missing/ },
      ],
      [
        'two entries swapped',
        (log) => {
          const [a, b] = [log.entries[3]!, log.entries[4]!];
          log.entries[3] = b;
          log.entries[4] = a;
        },
        { index: 3, seq: 5, reason: /./ },
      ],
      [
        'two entries swapped and renumbered',
        (log) => {
          const [a, b] = [log.entries[3]!, log.entries[4]!];
          log.entries[3] = { ...b, seq: 4 };
          log.entries[4] = { ...a, seq: 5 };
        },
        { index: 3, seq: 4, reason: /link/ },
      ],
      [
        'the last entry cut off',
        (log) => {
          log.entries.pop();
        },
        { index: 10, reason: /checkpoint covers 11/ },
      ],
      [
        'a forged entry appended with a correct hash chain',
        async (log) => {
          const last = log.entries.at(-1)!;
          const forged = {
            ...last,
            id: 'aud_forgedforgedforgedfo',
            seq: 12,
            at: new Date(Date.parse(last.at) + 1000).toISOString(),
            event: 'key_revoked' as const,
            keyId: delivery.id,
            prevHash: last.hash,
          };
          log.entries.push({ ...forged, hash: await auditEntryHash(forged) });
        },
        { index: 11, seq: 12, reason: /not covered by the signed checkpoint/ },
      ],
      [
        'an entry edited and every later hash recomputed',
        async (log) => {
          log.entries[5]!.purpose = 'Nothing to see here';
          let previous = log.entries[4]!.hash;
          for (const entry of log.entries.slice(5)) {
            entry.prevHash = previous;
            entry.hash = await auditEntryHash(entry);
            previous = entry.hash;
          }
        },
        { index: 10, seq: 11, reason: /not the head the vault signed/ },
      ],
      [
        "the checkpoint's signature edited",
        (log) => {
          log.checkpoint = flipSignatureByte(log.checkpoint);
        },
        { index: 11, reason: /checkpoint signature/ },
      ],
      [
        "the checkpoint of another customer's log",
        async (log) => {
          // A checkpoint the vault really signed, but over a shorter log: take the one of
          // another customer's one-entry log.
          const bob = new VaultCustomer(vault.url);
          await bob.signUp();
          const response = await bob.request('GET', `${AUDIT}/export`);
          log.checkpoint = auditExportSchema.parse(response.body).checkpoint;
        },
        { index: 1, seq: 2, reason: /not covered/ },
      ],
    ];

    it.each(tamperings)('detects %s, naming the first bad entry', async (_, tamper, expected) => {
      const log = structuredClone(exported);
      await tamper(log);
      const result = await verifyAuditExport(log);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.entries).toBe(log.entries.length);
      expect(result.firstBad.index).toBe(expected.index);
      expect(result.firstBad.seq).toBe(expected.seq);
      expect(result.firstBad.reason).toMatch(expected.reason);
      if (expected.seq !== undefined)
        expect(result.firstBad.id).toBe(log.entries[expected.index]?.id);
      // The untouched export still verifies.
      expect((await verifyAuditExport(exported)).ok).toBe(true);
    });

    it('verifies a log with an event this version does not know, and still detects its alteration', async () => {
      // As a newer vault would write it: the same entry, an event name from a later version.
      const log = structuredClone(exported);
      const last: Omit<AuditEntry, 'event'> & { event: string } = log.entries.at(-1)!;
      last.event = 'account_renamed';
      last.hash = await auditEntryHash(last);
      const { iss: _iss, ...claims } = decodeJwt(log.checkpoint);
      log.checkpoint = await vault.ctx.signer.sign(
        { ...claims, head: last.hash },
        CHECKPOINT_JWT_TYPE,
      );
      expect(await verifyAuditExport(log)).toMatchObject({ ok: true, head: last.hash });
      last.reason = 'edited';
      expect(await verifyAuditExport(log)).toMatchObject({
        ok: false,
        firstBad: { seq: last.seq, reason: /altered/ },
      });
    });

    it("fails against another vault's JWKS", async () => {
      // The other vault only lends its keys; which engine it runs on does not matter here.
      const other = await startTestVault('sqlite');
      try {
        const foreign = jwksSchema.parse(
          await (await fetch(`${other.url}/.well-known/jwks.json`)).json(),
        ) as JSONWebKeySet;
        const result = await verifyAuditExport(exported, { jwks: foreign });
        expect(result).toMatchObject({
          ok: false,
          entries: 11,
          firstBad: { index: 11, reason: expect.stringMatching(/checkpoint signature/) },
        });
        // Embedding the other vault's keys in the export does not help either.
        const swapped = { ...structuredClone(exported), jwks: foreign };
        expect((await verifyAuditExport(swapped)).ok).toBe(false);
      } finally {
        await other.dispose();
      }
    });
  });

  describe('CSV export', () => {
    it('exports one row per entry, quoting commas and quotes and defusing formulas', async () => {
      const response = await ada.request<string>('GET', `${AUDIT}/export?format=csv`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('content-disposition')).toBe(
        `attachment; filename="webkey-audit-${clock().toISOString().slice(0, 10)}.csv"`,
      );
      const text = response.body;
      expect(typeof text).toBe('string');
      expect(text.split('\r\n')[0]).toBe(CSV_HEADER);
      const rows = parseCsv(text);
      expect(rows[0]).toEqual(CSV_HEADER.split(','));
      const body = rows.slice(1);
      expect(body).toHaveLength(entries.length);
      const oldestFirst = [...entries].reverse();
      for (const [index, row] of body.entries()) {
        const entry = oldestFirst[index]!;
        expect(row).toHaveLength(14);
        expect(row).toEqual([
          String(entry.seq),
          entry.at,
          entry.event,
          entry.vendor?.id ?? '',
          entry.vendor?.name ?? '',
          entry.keyId ?? '',
          entry.paths.join(' '),
          entry.purpose === null
            ? ''
            : entry.purpose.startsWith('=')
              ? `'${entry.purpose}`
              : entry.purpose,
          entry.ip ?? '',
          entry.userAgent ?? '',
          entry.outcome,
          entry.reason ?? '',
          entry.prevHash,
          entry.hash,
        ]);
      }
      // The raw cells, exactly: apostrophe before the formula, quotes doubled, cell quoted.
      expect(text).toContain(`,"'=HYPERLINK(""http://evil.example"",""Click, here"")",`);
      expect(text).toContain(`,"Delivery, ""express"" please",`);
      expect(text).not.toMatch(/,=HYPERLINK/);
      expect(text).not.toMatch(/,"=/);
    });
  });

  describe('storage', () => {
    it('keeps entry bodies encrypted at rest', async () => {
      const rows = await vault.ctx.db
        .selectFrom('audit_entries')
        .select(['seq', 'body', 'event', 'vendor_id'])
        .where('customer_id', '=', customerId)
        .orderBy('seq')
        .execute();
      expect(rows).toHaveLength(11);
      expect(rows.map((r) => r.event)).toEqual(exported.entries.map((e) => e.event));
      for (const row of rows) {
        const bytes = Buffer.from(row.body);
        expect(bytes.length).toBeGreaterThan(32);
        for (const plain of [
          'HYPERLINK',
          'Delivery, ',
          'Acme Optics',
          'address.home',
          'key_issued',
          delivery.id,
          '"purpose"',
        ]) {
          expect(bytes.includes(plain), `seq ${row.seq} holds ${plain}`).toBe(false);
        }
      }
    });
  });
});
