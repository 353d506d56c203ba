import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'protocol', include: ['packages/protocol/src/**/*.test.ts'] } },
      { test: { name: 'testkit', include: ['packages/testkit/src/**/*.test.ts'] } },
      { test: { name: 'vault', include: ['vault/src/**/*.test.ts'], testTimeout: 20_000 } },
      { test: { name: 'vendor-sdk', include: ['vendor-sdk/src/**/*.test.ts'] } },
      { test: { name: 'e2e', include: ['test/**/*.test.ts'], testTimeout: 60_000 } },
    ],
  },
});
