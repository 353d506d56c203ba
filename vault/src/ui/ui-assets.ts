import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { packageFolder, vaultFolder } from '../package-folder.ts';

/** One file the web app serves, read once at start. */
export interface UiAsset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  /** A strong ETag over the bytes, so browsers revalidate cheaply (`cache-control: no-cache`). */
  etag: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

/** The web app's files: found from the vault's package, so the bundled vault finds them too. */
const uiFolder = join(vaultFolder(), 'src', 'ui');

/** The name the browser bundle of @simplewebauthn/browser is served under. */
export const WEBAUTHN_BUNDLE = 'simplewebauthn-browser.js';

function asset(bytes: Uint8Array, name: string): UiAsset {
  const body = Uint8Array.from(bytes);
  const digest = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  return { body, contentType: CONTENT_TYPES[extname(name)]!, etag: `"${digest}"` };
}

/**
 * The installed package's UMD bundle (defines the global `SimpleWebAuthnBrowser`). The package
 * exports only its entry point (in `script/`, which has a package.json of its own), so resolve
 * that and walk up to the package's folder.
 */
function webauthnBundlePath(): string {
  const name = '@simplewebauthn/browser';
  const entry = createRequire(import.meta.url).resolve(name);
  return join(packageFolder(entry, name), 'dist', 'bundle', 'index.umd.min.js');
}

/**
 * Reads the web app's files: `assets/*.js|css|svg` (type declarations excluded: they exist for
 * tests only) and the WebAuthn bundle, by name. Only what is listed here is ever served, so no
 * request path reaches the file system.
 *
 * @example
 * const assets = loadUiAssets(); assets.get('app.js')?.contentType // 'text/javascript; charset=utf-8'
 */
export function loadUiAssets(): Map<string, UiAsset> {
  const assets = new Map<string, UiAsset>();
  const folder = join(uiFolder, 'assets');
  for (const name of readdirSync(folder)) {
    if (name.endsWith('.d.ts') || !(extname(name) in CONTENT_TYPES)) continue;
    assets.set(name, asset(readFileSync(join(folder, name)), name));
  }
  assets.set(WEBAUTHN_BUNDLE, asset(readFileSync(webauthnBundlePath()), WEBAUTHN_BUNDLE));
  return assets;
}

/** The HTML shell, read once at start. */
export function loadIndexHtml(): UiAsset {
  return asset(readFileSync(join(uiFolder, 'index.html')), 'index.html');
}
