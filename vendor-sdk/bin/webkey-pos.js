#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so the workspace has no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exit(await main(process.argv.slice(2), process.env));
