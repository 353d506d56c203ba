#!/usr/bin/env node
// The published package runs its compiled files with plain Node. In the workspace, which has
// no build step, the sources sit beside this file and run through tsx.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli.ts', import.meta.url);
let cli;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
} else {
  cli = await import('../dist/cli.js');
}
process.exit(await cli.main(process.argv.slice(2), process.env));
