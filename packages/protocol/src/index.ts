export * from './api.ts';
export * from './errors.ts';
export * from './paths.ts';
export * from './records.ts';
