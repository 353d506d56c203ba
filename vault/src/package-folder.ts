import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the installed package `name`: up from `start` (a file inside it) to the folder
 * whose package.json names it.
 *
 * @example
 * const folder = packageFolder(require.resolve('@simplewebauthn/browser'), '@simplewebauthn/browser');
 */
export function packageFolder(start: string, name: string): string {
  let dir = dirname(start);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === name)
      return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the folder of ${name}`);
    dir = dirname(dir);
  }
}

/**
 * The vault package's own folder, found from this file: the same from the sources and from the
 * bundle in vault/dist/, so files the vault reads at run time (the web app, worker scripts) are
 * found either way.
 */
export function vaultFolder(): string {
  return packageFolder(fileURLToPath(import.meta.url), '@webkey/vault');
}
