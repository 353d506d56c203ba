export { buildApp } from './app.ts';
export { ConfigError, loadConfig, type VaultConfig } from './config.ts';
export type { VaultContext } from './context.ts';
export { jsonLogger, silentLogger } from './deps.ts';
export { openVault, type RunningVault, startVault, type VaultDependencies } from './vault.ts';
