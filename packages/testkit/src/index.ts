export * from './soft-authenticator.ts';
export * from './test-vendor.ts';
export * from './vault-customer.ts';
