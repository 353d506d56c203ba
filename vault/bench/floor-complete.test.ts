import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEntry, auditEntryHash, auditEntrySchema, GENESIS_HASH } from '@webkey/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCompleteFloor } from './floor-complete.ts';
import { floorKeyToken } from './floor-keys.ts';

// The complete floor is a yardstick: it must do all the work it claims, or the benchmark's
// floor would be lower than any honest redemption could reach.
describe('the complete floor of pnpm bench --floor', () => {
  let dir: string;
  let floor: ReturnType<typeof openCompleteFloor>;
  const vendor = 'https://vendor.example/webkey.json';
  const exp = 4_000_000_000;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'webkey-floor-test-'));
    floor = openCompleteFloor(dir, 40);
  });
  afterEach(() => {
    floor.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the granted record and claim, takes a use, and keeps a pairwise subject', async () => {
    const first = await floor.redeem(vendor, 'a1', exp, floorKeyToken(3));
    const second = await floor.redeem(vendor, 'a2', exp, floorKeyToken(3));
    const elsewhere = await floor.redeem(
      'https://other.example/v.json',
      'a1',
      exp,
      floorKeyToken(3),
    );
    expect(first?.fields['address.home']?.value).toEqual({
      line1: '3 Main Street',
      city: 'Springfield',
      postalCode: '12345',
    });
    expect(Object.keys(first!.fields)).toEqual(['address.home']);
    expect(first?.claims).toEqual({ 'profile.age_over_21': true });
    expect(second!.usesLeft).toBe(first!.usesLeft - 1);
    expect(second!.subject).toBe(first!.subject);
    expect(elsewhere!.subject).not.toBe(first!.subject);
  });

  it('refuses bytes other than the key it issued, taking nothing', async () => {
    const token = floorKeyToken(5);
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await floor.redeem(vendor, 'a1', exp, forged)).toBeUndefined();
    expect(floor.auditEntries('cus_5')).toEqual([]);
    expect((await floor.redeem(vendor, 'a2', exp, token))?.usesLeft).toBe(999_999_999);
  });

  it('refuses a replayed assertion and undoes its work, while the rest of its group commits', async () => {
    const before = floor.redeem(vendor, 'same', exp, floorKeyToken(1));
    expect(() => floor.redeem(vendor, 'same', exp, floorKeyToken(2))).toThrow(/UNIQUE/);
    const after = await floor.redeem(vendor, 'other', exp, floorKeyToken(2));
    expect((await before)?.usesLeft).toBe(999_999_999);
    expect(after?.usesLeft).toBe(999_999_999);
    expect(floor.auditEntries('cus_2')).toHaveLength(1);
  });

  it('appends hash-chained, sealed audit entries that the protocol accepts', async () => {
    // Keys 7 and 27 belong to the same customer (20 customers, keys dealt in turn).
    const answers = [
      await floor.redeem(vendor, 'a1', exp, floorKeyToken(7)),
      await floor.redeem(vendor, 'a2', exp, floorKeyToken(27)),
      await floor.redeem(vendor, 'a3', exp, floorKeyToken(7)),
    ];
    const entries = floor.auditEntries('cus_7') as AuditEntry[];
    expect(entries.map((entry) => entry.id)).toEqual(answers.map((answer) => answer!.auditEntryId));
    let previous = GENESIS_HASH;
    for (const [index, entry] of entries.entries()) {
      expect(auditEntrySchema.parse(entry)).toEqual(entry);
      expect(entry.seq).toBe(index + 1);
      expect(entry.prevHash).toBe(previous);
      expect(await auditEntryHash(entry)).toBe(entry.hash);
      previous = entry.hash;
    }
    expect(entries.map((entry) => entry.keyId)).toEqual(['k7', 'k27', 'k7']);
  });
});
