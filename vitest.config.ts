import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'protocol', include: ['packages/protocol/src/**/*.test.ts'] } },
      { test: { name: 'testkit', include: ['packages/testkit/src/**/*.test.ts'] } },
      {
        test: {
          name: 'vault',
          include: ['vault/src/**/*.test.ts', 'vault/bench/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      { test: { name: 'vendor-sdk', include: ['vendor-sdk/src/**/*.test.ts'] } },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: ['test/browser/**', '**/node_modules/**'],
          testTimeout: 60_000,
        },
      },
      {
        // Real Chromium: one file at a time, generous timeouts.
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
