import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { RandomBytes } from '../deps.ts';
import { fsyncPath } from '../fsync-path.ts';
import { fromBase64Url, sha256Hex, toBase64Url } from './encoding.ts';

/**
 * The master keyring wraps every customer's data key. Its text form is one or more base64url
 * 32-byte keys separated by commas or newlines; the first is current (new wraps use it), the
 * others only unwrap, which lets a rotation proceed without downtime.
 */

/** One master key; its id is derived from the key, so nothing else must be stored with it. */
export interface MasterKey {
  id: string;
  key: Uint8Array;
}

/** The current master key and the older ones still accepted for unwrapping. */
export interface MasterKeyring {
  current: MasterKey;
  keys: readonly MasterKey[];
  byId(id: string): MasterKey | undefined;
}

/** The master key material is missing, malformed, or unsafely stored. */
export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

/** The file, inside the data directory, that holds the keyring when no variable does. */
export const MASTER_KEY_FILE = 'master.key';

function keyId(key: Uint8Array): string {
  return sha256Hex(key).slice(0, 16);
}

/**
 * Parses the keyring text form.
 *
 * @example
 * parseKeyring(`${newKey},${oldKey}`, 'WEBKEY_MASTER_KEY').current.id
 */
export function parseKeyring(text: string, source: string): MasterKeyring {
  const parts = text
    .split(/[\s,]+/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (parts.length === 0) throw new MasterKeyError(`${source} holds no key`);
  const keys = parts.map((part, index) => {
    const key = fromBase64Url(part);
    if (key?.byteLength !== 32) {
      throw new MasterKeyError(`${source}: key ${index + 1} is not 32 bytes of base64url`);
    }
    return { id: keyId(key), key };
  });
  return keyringOf(keys);
}

function keyringOf(keys: MasterKey[]): MasterKeyring {
  const [current] = keys;
  if (!current) throw new MasterKeyError('a keyring needs at least one key');
  return { current, keys, byId: (id) => keys.find((k) => k.id === id) };
}

/** The text form of a keyring, current key first. */
export function formatKeyring(keys: readonly MasterKey[]): string {
  return `${keys.map((k) => toBase64Url(k.key)).join('\n')}\n`;
}

/**
 * Loads the keyring from `WEBKEY_MASTER_KEY` when set, else from `<dataDir>/master.key`,
 * creating that file with mode 0600 on first start. A file-backed keyring picks up changes to
 * the file (a rotation by `webkey-vault keys rotate-master`) without a restart.
 *
 * @example
 * const keyring = loadMasterKeyring({ masterKey: undefined, dataDir: '.webkey' }, systemRandom);
 */
export function loadMasterKeyring(
  options: { masterKey?: string; dataDir: string },
  random: RandomBytes,
): MasterKeyring {
  if (options.masterKey !== undefined) return parseKeyring(options.masterKey, 'WEBKEY_MASTER_KEY');
  const file = join(options.dataDir, MASTER_KEY_FILE);
  if (!existsSync(file)) {
    const key = random(32);
    // 'wx' fails if another process created the file meanwhile: never overwrite a key.
    try {
      writeDurably(file, formatKeyring([{ id: keyId(key), key }]));
      fsyncPath(options.dataDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return new FileKeyring(file);
}

/** How often a file-backed keyring looks at its file for a rotation. */
const FILE_CHECK_INTERVAL_MS = 1000;

class FileKeyring implements MasterKeyring {
  private loaded: MasterKeyring;
  private signature: string;
  private checkedAt = 0;

  constructor(private readonly file: string) {
    this.signature = this.fileSignature();
    this.loaded = this.read();
  }

  get current(): MasterKey {
    this.refresh(false);
    return this.loaded.current;
  }

  get keys(): readonly MasterKey[] {
    this.refresh(false);
    return this.loaded.keys;
  }

  byId(id: string): MasterKey | undefined {
    this.refresh(false);
    const found = this.loaded.byId(id);
    if (found) return found;
    // A key we do not know may have been added by a rotation a moment ago.
    this.refresh(true);
    return this.loaded.byId(id);
  }

  private refresh(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < FILE_CHECK_INTERVAL_MS) return;
    this.checkedAt = now;
    const signature = this.fileSignature();
    if (signature === this.signature) return;
    this.loaded = this.read();
    this.signature = signature;
  }

  private fileSignature(): string {
    const stat = statSync(this.file);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  }

  private read(): MasterKeyring {
    const mode = statSync(this.file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new MasterKeyError(
        `${this.file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`,
      );
    }
    return parseKeyring(readFileSync(this.file, 'utf8'), this.file);
  }
}

/**
 * Creates `file` (never over an existing one), mode 0600, and syncs its contents to disk before
 * returning: secrets wrapped under a key are durable within moments, and a key lost in a power
 * cut would take them all.
 */
function writeDurably(file: string, text: string): void {
  const descriptor = openSync(file, 'wx', 0o600);
  try {
    writeSync(descriptor, text);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

/**
 * Writes a keyring file atomically and durably (temporary file synced, renamed, the directory
 * synced), mode 0600.
 */
export function writeKeyringFile(dataDir: string, keys: readonly MasterKey[]): void {
  const file = join(dataDir, MASTER_KEY_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  // A stale temporary file could carry a looser mode: start from a new file.
  rmSync(temporary, { force: true });
  writeDurably(temporary, formatKeyring(keys));
  renameSync(temporary, file);
  fsyncPath(dataDir);
}

/** A fresh random master key. */
export function generateMasterKey(random: RandomBytes): MasterKey {
  const key = random(32);
  return { id: keyId(key), key };
}

/** A keyring holding the given keys, the first being current. */
export function keyringFrom(keys: MasterKey[]): MasterKeyring {
  return keyringOf(keys);
}
