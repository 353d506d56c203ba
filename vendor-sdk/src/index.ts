/**
 * `@webkey/vendor-sdk`: redeem Webkey web keys from any trusted vault.
 *
 * @example
 * import { VendorClient } from '@webkey/vendor-sdk';
 */
export * from './client-assertion.ts';
export type { Clock, FetchLike, RandomBytes, Sleep } from './deps.ts';
export * from './errors.ts';
export * from './grant-read.ts';
export * from './redemption.ts';
export type { RetryOptions } from './retrying-sender.ts';
export * from './trust.ts';
export * from './vendor-client.ts';
export * from './vendor-keys.ts';
export * from './vendor-metadata.ts';
export { createTestWebhook, type WebhookHeaders } from './webhooks.ts';
