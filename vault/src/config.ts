import { isAbsolute, join, resolve } from 'node:path';
import { LOOPBACK_HOSTS } from '@webkey/protocol';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from './deps.ts';
import {
  type ForwardingHeader,
  NO_TRUSTED_PROXIES,
  parseTrustedProxies,
  type TrustedProxies,
} from './http/client-address.ts';

/** Where the vault keeps its data: an embedded SQLite file, or a PostgreSQL database. */
export type DatabaseConfig =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; url: string; schema?: string };

/** The vault's configuration, parsed once at start and frozen. */
export interface VaultConfig {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The origin customers' browsers use, e.g. https://vault.example; undefined: http://localhost:<port>. */
  publicUrl?: string;
  dataDir: string;
  database: DatabaseConfig;
  /** A master keyring in text form (see crypto/master-keyring.ts); undefined: a key file in dataDir. */
  masterKey?: string;
  sessionTtlSeconds: number;
  /** Development conveniences that must never be on in production: vendors on http://localhost. */
  devMode: boolean;
  /** The least severe log entries written. */
  logLevel?: LogLevel;
  /** Proxies whose X-Forwarded-For names the client (see http/client-address.ts); default none. */
  trustedProxies?: TrustedProxies;
  /** The bearer token `/metrics` requires; undefined: no `/metrics` (open in development mode). */
  metricsToken?: string;
  /**
   * Passkey ceremonies (sign-up and sign-in) one client address may start per minute; default
   * DEFAULT_CEREMONY_STARTS_PER_MINUTE (see limits/ceremony-limits.ts).
   */
  ceremonyStartsPerMinute?: number;
}

const booleanText = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((value) => value === '1' || value === 'true' || value === 'yes');

const environmentSchema = z.strictObject({
  WEBKEY_HOST: z.string().min(1).default('127.0.0.1'),
  WEBKEY_PORT: z.coerce.number().int().min(0).max(65_535).default(7420),
  WEBKEY_PUBLIC_URL: z.url().optional(),
  WEBKEY_DATA_DIR: z.string().min(1).default('.webkey'),
  WEBKEY_MASTER_KEY: z.string().min(1).optional(),
  WEBKEY_SESSION_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(300)
    .max(30 * 24 * 3600)
    .default(12 * 3600),
  WEBKEY_DEV: booleanText.default(false),
  WEBKEY_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  WEBKEY_TRUSTED_PROXIES: z.string().optional(),
  WEBKEY_FORWARDED_HEADER: z.enum(['x-forwarded-for', 'forwarded']).optional(),
  WEBKEY_CEREMONY_LIMIT: z.coerce.number().int().min(1).max(1_000_000).optional(),
  WEBKEY_METRICS_TOKEN: z
    .string()
    .regex(/^[\x21-\x7e]{32,512}$/, '32 to 512 visible ASCII characters (a random token)')
    .optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'only postgres:// URLs are supported; leave unset for SQLite')
    .optional(),
});

/** A configuration value that cannot start a vault; the message names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads the vault's configuration from environment variables. Unknown `WEBKEY_*` variables are
 * refused too, so a typo never silently falls back to a default.
 *
 * @example
 * const config = loadConfig(process.env); // throws ConfigError naming the bad variable
 */
export function loadConfig(
  environment: NodeJS.ProcessEnv,
  cwd = process.cwd(),
): Readonly<VaultConfig> {
  const relevant = Object.fromEntries(
    Object.entries(environment).filter(
      ([name, value]) => (name.startsWith('WEBKEY_') || name === 'DATABASE_URL') && value !== '',
    ),
  );
  const parsed = environmentSchema.safeParse(relevant);
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => {
      const name = issue.path.length > 0 ? issue.path.join('.') : issue.message;
      if (issue.code === 'unrecognized_keys') {
        return `unknown variable(s) ${issue.keys.join(', ')}`;
      }
      return `${name}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration: ${messages.join('; ')}`);
  }
  const env = parsed.data;
  const dataDir = isAbsolute(env.WEBKEY_DATA_DIR)
    ? env.WEBKEY_DATA_DIR
    : resolve(cwd, env.WEBKEY_DATA_DIR);
  const config: VaultConfig = {
    host: env.WEBKEY_HOST,
    port: env.WEBKEY_PORT,
    publicUrl:
      env.WEBKEY_PUBLIC_URL === undefined ? undefined : checkPublicUrl(env.WEBKEY_PUBLIC_URL),
    dataDir,
    database: env.DATABASE_URL
      ? { kind: 'postgres', url: env.DATABASE_URL }
      : { kind: 'sqlite', file: join(dataDir, 'vault.sqlite') },
    masterKey: env.WEBKEY_MASTER_KEY,
    sessionTtlSeconds: env.WEBKEY_SESSION_TTL_SECONDS,
    devMode: env.WEBKEY_DEV,
    logLevel: env.WEBKEY_LOG_LEVEL,
    trustedProxies: trustedProxiesFrom(env.WEBKEY_TRUSTED_PROXIES, env.WEBKEY_FORWARDED_HEADER),
    metricsToken: env.WEBKEY_METRICS_TOKEN,
    ...(env.WEBKEY_CEREMONY_LIMIT === undefined
      ? {}
      : { ceremonyStartsPerMinute: env.WEBKEY_CEREMONY_LIMIT }),
  };
  return Object.freeze(config);
}

function trustedProxiesFrom(
  text: string | undefined,
  header: ForwardingHeader | undefined,
): TrustedProxies {
  if (text === undefined) {
    // A header without proxies to believe it would be read from nobody: a mistake, not a choice.
    if (header !== undefined) {
      throw new ConfigError(
        'Invalid configuration: WEBKEY_FORWARDED_HEADER needs WEBKEY_TRUSTED_PROXIES, the proxies that write it',
      );
    }
    return NO_TRUSTED_PROXIES;
  }
  try {
    return parseTrustedProxies(text, header);
  } catch (error) {
    throw new ConfigError(
      `Invalid configuration: WEBKEY_TRUSTED_PROXIES: ${(error as Error).message}`,
    );
  }
}

/** True when the URL is served from this machine, where WebAuthn allows plain http. */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * Validates the public URL and reduces it to an origin. WebAuthn only works in a secure context,
 * so plain http is allowed for loopback hosts alone.
 */
export function checkPublicUrl(text: string): string {
  const url = new URL(text);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(
      'Invalid configuration: WEBKEY_PUBLIC_URL must be an origin such as https://vault.example',
    );
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackUrl(url))) {
    throw new ConfigError(
      'Invalid configuration: WEBKEY_PUBLIC_URL must use https (http only for localhost)',
    );
  }
  return url.origin;
}
