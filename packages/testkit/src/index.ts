export * from './soft-authenticator.ts';
export * from './vault-customer.ts';
