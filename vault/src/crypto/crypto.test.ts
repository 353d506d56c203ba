import { hkdfSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemRandom } from '../deps.ts';
import { DecryptionError, open, seal } from './aead.ts';
import { createDataKey, unwrapDataKey, wrapDataKey } from './data-keys.ts';
import { fromBase64Url, sha256Hex, toBase64Url } from './encoding.ts';
import { hkdfSha256 } from './hkdf.ts';
import { newTimeOrderedId } from './ids.ts';
import {
  formatKeyring,
  generateMasterKey,
  keyringFrom,
  loadMasterKeyring,
  MASTER_KEY_FILE,
  MasterKeyError,
  parseKeyring,
  writeKeyringFile,
} from './master-keyring.ts';

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const newKeyText = () => toBase64Url(systemRandom(32));

/** A deterministic random source, for checking the sealed layout byte by byte. */
function counting(): (length: number) => Uint8Array {
  let next = 0;
  return (length) => Uint8Array.from({ length }, () => next++ & 0xff);
}

describe('AES-256-GCM sealing', () => {
  const key = systemRandom(32);
  const ad = 'webkey:record:v1:cus_1:address.home:1';
  const plaintext = utf8('{"street":"Plaintextstrasse 42"}');

  it('round-trips and lays out version | nonce | ciphertext | tag', () => {
    const sealed = seal(key, plaintext, ad, counting());
    expect(sealed.byteLength).toBe(1 + 12 + plaintext.byteLength + 16);
    expect(sealed[0]).toBe(1);
    expect([...sealed.subarray(1, 13)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(Buffer.from(sealed).includes(Buffer.from(plaintext))).toBe(false);
    expect(text(open(key, sealed, ad))).toBe(text(plaintext));
  });

  it('uses a fresh nonce on every seal', () => {
    const a = seal(key, plaintext, ad, systemRandom);
    const b = seal(key, plaintext, ad, systemRandom);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(text(open(key, a, ad))).toBe(text(open(key, b, ad)));
  });

  it('round-trips an empty plaintext', () => {
    const sealed = seal(key, new Uint8Array(0), ad, systemRandom);
    expect(sealed.byteLength).toBe(29);
    expect(open(key, sealed, ad).byteLength).toBe(0);
  });

  const regions: [string, (length: number) => number][] = [
    ['the version byte', () => 0],
    ['the first nonce byte', () => 1],
    ['the last nonce byte', () => 12],
    ['the first ciphertext byte', () => 13],
    ['the last ciphertext byte', (length) => length - 17],
    ['the first tag byte', (length) => length - 16],
    ['the last tag byte', (length) => length - 1],
  ];

  it.each(regions)('refuses a flipped bit in %s', (_, at) => {
    const sealed = seal(key, plaintext, ad, systemRandom);
    expect(text(open(key, sealed, ad))).toBe(text(plaintext));
    const tampered = Uint8Array.from(sealed);
    const index = at(tampered.byteLength);
    tampered[index] = (tampered[index] ?? 0) ^ 0x01;
    expect(() => open(key, tampered, ad)).toThrow(DecryptionError);
  });

  it('refuses a truncated or extended value', () => {
    const sealed = seal(key, plaintext, ad, systemRandom);
    expect(() => open(key, sealed.subarray(0, sealed.byteLength - 1), ad)).toThrow(DecryptionError);
    expect(() => open(key, sealed.subarray(0, 28), ad)).toThrow(DecryptionError);
    expect(() => open(key, new Uint8Array(0), ad)).toThrow(DecryptionError);
    const longer = new Uint8Array([...sealed, 0]);
    expect(() => open(key, longer, ad)).toThrow(DecryptionError);
  });

  it('refuses another key', () => {
    const sealed = seal(key, plaintext, ad, systemRandom);
    expect(() => open(systemRandom(32), sealed, ad)).toThrow(DecryptionError);
  });

  it('refuses other associated data', () => {
    const sealed = seal(key, plaintext, ad, systemRandom);
    expect(() => open(key, sealed, 'webkey:record:v1:cus_1:address.home:2')).toThrow(
      DecryptionError,
    );
    expect(() => open(key, sealed, 'webkey:record:v1:cus_2:address.home:1')).toThrow(
      DecryptionError,
    );
    expect(() => open(key, sealed, '')).toThrow(DecryptionError);
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => seal(systemRandom(16), plaintext, ad, systemRandom)).toThrow('32-byte key');
    const sealed = seal(key, plaintext, ad, systemRandom);
    expect(() => open(systemRandom(31), sealed, ad)).toThrow('32-byte key');
  });

  it('names DecryptionError and gives no plaintext in its message', () => {
    const sealed = seal(key, plaintext, ad, systemRandom);
    try {
      open(systemRandom(32), sealed, ad);
      expect.unreachable('open should have thrown');
    } catch (error) {
      expect(error).toBeInstanceOf(DecryptionError);
      expect((error as Error).name).toBe('DecryptionError');
      expect((error as Error).message).not.toContain('Plaintext');
    }
  });
});

describe('base64url encoding', () => {
  it('round-trips and refuses non-canonical text', () => {
    const bytes = systemRandom(32);
    expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
    expect(toBase64Url(new Uint8Array([255]))).toBe('_w');
    expect(fromBase64Url('_w==')).toBeUndefined();
    expect(fromBase64Url('/w')).toBeUndefined();
    expect(fromBase64Url('_x')).toBeUndefined();
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('parseKeyring', () => {
  const first = newKeyText();
  const second = newKeyText();
  const idOf = (keyText: string) => sha256Hex(fromBase64Url(keyText)!).slice(0, 16);

  it('parses a single key; its id is derived from the key', () => {
    const keyring = parseKeyring(first, 'TEST_SOURCE');
    expect(keyring.keys).toHaveLength(1);
    expect(keyring.current.id).toBe(idOf(first));
    expect(keyring.current.id).toMatch(/^[0-9a-f]{16}$/);
    expect(toBase64Url(keyring.current.key)).toBe(first);
    expect(keyring.byId(keyring.current.id)).toBe(keyring.current);
    expect(keyring.byId('0000000000000000')).toBeUndefined();
  });

  it.each([
    ['a comma', `${first},${second}`],
    ['a comma and spaces', ` ${first} , ${second} `],
    ['a newline', `${first}\n${second}\n`],
    ['CRLF', `${first}\r\n${second}\r\n`],
  ])('parses two keys separated by %s; the first is current', (_, keyringText) => {
    const keyring = parseKeyring(keyringText, 'TEST_SOURCE');
    expect(keyring.keys.map((k) => toBase64Url(k.key))).toEqual([first, second]);
    expect(keyring.current.id).toBe(idOf(first));
    expect(toBase64Url(keyring.byId(idOf(second))!.key)).toBe(second);
    expect(toBase64Url(keyring.byId(idOf(first))!.key)).toBe(first);
  });

  it('round-trips through formatKeyring', () => {
    const keyring = parseKeyring(`${first},${second}`, 'TEST_SOURCE');
    expect(formatKeyring(keyring.keys)).toBe(`${first}\n${second}\n`);
    expect(parseKeyring(formatKeyring(keyring.keys), 'x').current.id).toBe(keyring.current.id);
  });

  it.each([
    ['bad base64', 'not*base64!'],
    ['standard base64 with padding', Buffer.from(systemRandom(32)).toString('base64')],
    ['a 16-byte key', toBase64Url(systemRandom(16))],
    ['a 33-byte key', toBase64Url(systemRandom(33))],
    ['a bad second key', `${newKeyText()},${toBase64Url(systemRandom(31))}`],
    ['nothing', ''],
    ['only separators', ' ,\n, '],
  ])('refuses %s with a MasterKeyError naming the source', (_, keyringText) => {
    expect(() => parseKeyring(keyringText, 'TEST_SOURCE_NAME')).toThrow(MasterKeyError);
    expect(() => parseKeyring(keyringText, 'TEST_SOURCE_NAME')).toThrow(/TEST_SOURCE_NAME/);
  });

  it('does not echo the key material in the error', () => {
    const bad = toBase64Url(systemRandom(31));
    try {
      parseKeyring(bad, 'WEBKEY_MASTER_KEY');
      expect.unreachable('parseKeyring should have thrown');
    } catch (error) {
      expect(error).toBeInstanceOf(MasterKeyError);
      expect((error as Error).message).toBe(
        'WEBKEY_MASTER_KEY: key 1 is not 32 bytes of base64url',
      );
      expect((error as Error).message).not.toContain(bad);
    }
  });
});

describe('loadMasterKeyring', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'webkey-keys-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prefers the keyring text from the environment and writes no file', () => {
    const key = newKeyText();
    const keyring = loadMasterKeyring({ masterKey: key, dataDir: dir }, systemRandom);
    expect(toBase64Url(keyring.current.key)).toBe(key);
    expect(() => statSync(join(dir, MASTER_KEY_FILE))).toThrow();
    expect(() => loadMasterKeyring({ masterKey: 'short', dataDir: dir }, systemRandom)).toThrow(
      /WEBKEY_MASTER_KEY/,
    );
  });

  it('creates master.key with mode 0600 in an empty directory and reuses it', () => {
    const keyring = loadMasterKeyring({ dataDir: dir }, systemRandom);
    const file = join(dir, MASTER_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const contents = readFileSync(file, 'utf8');
    expect(contents).toBe(`${toBase64Url(keyring.current.key)}\n`);
    expect(keyring.keys).toHaveLength(1);

    const again = loadMasterKeyring({ dataDir: dir }, systemRandom);
    expect(again.current.id).toBe(keyring.current.id);
    expect(again.current.key).toEqual(keyring.current.key);
    expect(readFileSync(file, 'utf8')).toBe(contents);
  });

  it('refuses a key file readable by others (0644) with a MasterKeyError', () => {
    const file = join(dir, MASTER_KEY_FILE);
    writeFileSync(file, `${newKeyText()}\n`);
    chmodSync(file, 0o644);
    expect(() => loadMasterKeyring({ dataDir: dir }, systemRandom)).toThrow(MasterKeyError);
    expect(() => loadMasterKeyring({ dataDir: dir }, systemRandom)).toThrow(/chmod 600/);
    chmodSync(file, 0o640);
    expect(() => loadMasterKeyring({ dataDir: dir }, systemRandom)).toThrow(MasterKeyError);
  });

  it('refuses a malformed key file, naming the file', () => {
    const file = join(dir, MASTER_KEY_FILE);
    writeFileSync(file, 'garbage\n', { mode: 0o600 });
    expect(() => loadMasterKeyring({ dataDir: dir }, systemRandom)).toThrow(MasterKeyError);
    expect(() => loadMasterKeyring({ dataDir: dir }, systemRandom)).toThrow(file);
  });

  it('picks up a rewritten key file when asked for a key id it does not know', () => {
    const keyring = loadMasterKeyring({ dataDir: dir }, systemRandom);
    const old = keyring.current;
    const next = generateMasterKey(systemRandom);
    expect(keyring.byId(next.id)).toBeUndefined();

    writeKeyringFile(dir, [next, old]);
    expect(statSync(join(dir, MASTER_KEY_FILE)).mode & 0o777).toBe(0o600);
    const found = keyring.byId(next.id);
    expect(found?.key).toEqual(next.key);
    expect(keyring.current.id).toBe(next.id);
    expect(keyring.keys.map((k) => k.id)).toEqual([next.id, old.id]);
    expect(keyring.byId(old.id)?.key).toEqual(old.key);
  });

  it('still refuses an unknown id after looking at the file again', () => {
    const keyring = loadMasterKeyring({ dataDir: dir }, systemRandom);
    expect(keyring.byId('ffffffffffffffff')).toBeUndefined();
    expect(keyring.byId(keyring.current.id)).toBe(keyring.current);
  });
});

describe('data keys', () => {
  const master = generateMasterKey(systemRandom);
  const keyring = keyringFrom([master]);

  it('creates a data key wrapped under the current master key and unwraps it', () => {
    const created = createDataKey(keyring, 'cus_a', systemRandom);
    expect(created.key.byteLength).toBe(32);
    expect(created.masterKeyId).toBe(master.id);
    expect(Buffer.from(created.wrapped).includes(Buffer.from(created.key))).toBe(false);
    const unwrapped = unwrapDataKey(keyring, 'cus_a', {
      wrapped: created.wrapped,
      masterKeyId: created.masterKeyId,
    });
    expect(unwrapped).toEqual(created.key);
  });

  it('refuses to unwrap a data key for another customer', () => {
    const created = createDataKey(keyring, 'cus_a', systemRandom);
    expect(() =>
      unwrapDataKey(keyring, 'cus_b', {
        wrapped: created.wrapped,
        masterKeyId: created.masterKeyId,
      }),
    ).toThrow(DecryptionError);
  });

  it('refuses a data key whose master key id is not in the keyring', () => {
    const other = keyringFrom([generateMasterKey(systemRandom)]);
    const created = createDataKey(other, 'cus_a', systemRandom);
    expect(() =>
      unwrapDataKey(keyring, 'cus_a', {
        wrapped: created.wrapped,
        masterKeyId: created.masterKeyId,
      }),
    ).toThrow(MasterKeyError);
    expect(() =>
      unwrapDataKey(keyring, 'cus_a', {
        wrapped: created.wrapped,
        masterKeyId: created.masterKeyId,
      }),
    ).toThrow(created.masterKeyId);
  });

  it('refuses a wrapped key that names the right id but was wrapped by another key', () => {
    const impostor = keyringFrom([generateMasterKey(systemRandom)]);
    const created = createDataKey(impostor, 'cus_a', systemRandom);
    expect(() =>
      unwrapDataKey(keyring, 'cus_a', { wrapped: created.wrapped, masterKeyId: master.id }),
    ).toThrow(DecryptionError);
  });

  it('re-wraps under a new current key while the old one still unwraps', () => {
    const created = createDataKey(keyring, 'cus_a', systemRandom);
    const next = generateMasterKey(systemRandom);
    const rotated = keyringFrom([next, master]);
    const old = unwrapDataKey(rotated, 'cus_a', {
      wrapped: created.wrapped,
      masterKeyId: created.masterKeyId,
    });
    const rewrapped = wrapDataKey(rotated, 'cus_a', old, systemRandom);
    expect(rewrapped.masterKeyId).toBe(next.id);
    expect(unwrapDataKey(keyringFrom([next]), 'cus_a', rewrapped)).toEqual(created.key);
  });
});

describe('HKDF-SHA256', () => {
  // RFC 5869 appendix A.1 and A.3 (A.3: empty salt and info).
  const vectors = [
    {
      source: 'RFC 5869 A.1',
      ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
      salt: '000102030405060708090a0b0c',
      info: 'f0f1f2f3f4f5f6f7f8f9',
      length: 42,
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      source: 'RFC 5869 A.3',
      ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
      salt: '',
      info: '',
      length: 42,
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
  ];

  it.each(vectors)('matches $source', ({ ikm, salt, info, length, okm }) => {
    const out = hkdfSha256(
      Buffer.from(ikm, 'hex'),
      Buffer.from(salt, 'hex'),
      Buffer.from(info, 'hex'),
      length,
    );
    expect(out.toString('hex')).toBe(okm);
  });

  it('gives the bytes of node:crypto hkdfSync for the pairwise-subject derivation', () => {
    for (let i = 0; i < 50; i++) {
      const ikm = systemRandom(32);
      const info = `webkey pairwise subject v1${'x'.repeat(i)}`;
      const expected = Buffer.from(hkdfSync('sha256', ikm, new Uint8Array(0), info, 32 + i));
      expect(hkdfSha256(ikm, new Uint8Array(0), info, 32 + i).equals(expected)).toBe(true);
    }
  });

  it('refuses lengths HKDF cannot give', () => {
    expect(() => hkdfSha256(systemRandom(32), new Uint8Array(0), '', 0)).toThrow(RangeError);
    expect(() => hkdfSha256(systemRandom(32), new Uint8Array(0), '', 255 * 32 + 1)).toThrow(
      RangeError,
    );
  });
});

describe('the system random source', () => {
  it('gives independent bytes of the asked length, small and large', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const bytes = systemRandom(16);
      expect(bytes).toHaveLength(16);
      seen.add(Buffer.from(bytes).toString('hex'));
    }
    expect(seen.size).toBe(2000);
    expect(systemRandom(4096)).toHaveLength(4096);
    // Across a pool refill, and not all zero (wiped pool bytes must never be handed out).
    const many = Array.from({ length: 600 }, () => Buffer.from(systemRandom(12)));
    expect(many.filter((b) => b.equals(Buffer.alloc(12)))).toEqual([]);
  });

  it('hands out copies that neither the wipe nor a refill of the pool touches', () => {
    const first = systemRandom(16);
    const snapshot = Buffer.from(first);
    // A view into the pool would read zeros at once (wiped) or new bytes after a refill.
    expect(snapshot.equals(Buffer.alloc(16))).toBe(false);
    for (let i = 0; i < 600; i++) systemRandom(12);
    expect(Buffer.from(first).equals(snapshot)).toBe(true);
  });
});

describe('time-ordered ids', () => {
  it('sort as their times do, whatever their random part', () => {
    const times = [0, 1, 255, 256, Date.parse('2026-12-01T00:00:00Z'), 2 ** 48 - 1];
    const ids = times.map((at) => newTimeOrderedId('aud', at, systemRandom));
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^aud_[0-9a-f]{12}[A-Za-z0-9_-]{14}$/);
  });

  it('refuses times a 12-digit hex prefix cannot hold', () => {
    for (const at of [-1, 2 ** 48, 1.5, Number.NaN])
      expect(() => newTimeOrderedId('aud', at, systemRandom)).toThrow(RangeError);
  });
});
