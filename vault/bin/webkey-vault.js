#!/usr/bin/env -S node --max-semi-space-size=8
// --max-semi-space-size=8 (MB; Node's default lets it grow to 16 or more): a smaller young
// generation keeps the vault's heap, and so its resident memory, 30 to 70 MB smaller under load,
// at no throughput cost that pnpm bench can measure. Starting the bin with plain `node` loses
// the flag; the package's scripts pass it.
// Runs the vault from its bundle (see bundle.js), built from the TypeScript sources when they
// changed; from the sources through tsx only when the bundle cannot be built.
import { pathToFileURL } from 'node:url';
import { freshBundle } from './bundle.js';

const bundle = await freshBundle();
let main;
if (bundle) {
  // Stack traces in logs name the TypeScript sources.
  process.setSourceMapsEnabled(true);
  ({ main } = await import(pathToFileURL(bundle).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
const code = await main(process.argv.slice(2), process.env);
if (code >= 0) process.exit(code);
