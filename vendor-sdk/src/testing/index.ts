/**
 * Test helpers for vendors: `@webkey/vendor-sdk/testing`. Node only (it starts an HTTP server).
 *
 * @example
 * import { startTestVault } from '@webkey/vendor-sdk/testing';
 */
export * from './answers.ts';
export type { RecordedRedemption } from './reference-redemption.ts';
export { pairwiseSubject } from './reference-redemption.ts';
export * from './test-vault.ts';
export * from './test-vendor.ts';
