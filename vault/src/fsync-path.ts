import { closeSync, fsyncSync, openSync } from 'node:fs';

/**
 * Syncs a file's contents, or a directory's entries (a file created or renamed in it), to
 * stable storage.
 *
 * @example
 * fsyncPath('/var/lib/webkey'); // after renaming a file into it
 */
export function fsyncPath(path: string): void {
  const descriptor = openSync(path, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
