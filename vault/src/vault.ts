import { mkdirSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import { buildApp } from './app.ts';
import type { VaultConfig } from './config.ts';
import type { VaultContext } from './context.ts';
import { loadMasterKeyring } from './crypto/master-keyring.ts';
import { openDatabase, type VaultDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import type { WriteLock } from './db/write-lock.ts';
import {
  type Clock,
  jsonLogger,
  type Logger,
  type RandomBytes,
  systemClock,
  systemRandom,
} from './deps.ts';
import { hasGrants } from './grants/grants.repository.ts';
import { sweepExpired } from './housekeeping.ts';
import type { AppEnv } from './http/app-env.ts';
import { NO_TRUSTED_PROXIES } from './http/client-address.ts';
import { problemBody, problemResponse } from './http/problem.ts';
import { DEFAULT_CEREMONY_STARTS_PER_MINUTE } from './limits/ceremony-limits.ts';
import { VaultMetrics } from './observability/metrics.ts';
import { metricsAccess } from './observability/metrics-access.ts';
import { VaultSigner } from './signing/signing-keys.ts';
import { type JsonFetcher, type Poster, safeFetchJson, safePost } from './vendors/safe-fetch.ts';
import { VendorRegistry } from './vendors/vendor-registry.ts';
import { deliverDue } from './webhooks/deliver.ts';

/** How often expired challenges, sessions, assertion ids and idempotency records are deleted. */
const SWEEP_INTERVAL_MS = 60_000;

/** Dependencies a caller may replace; tests inject a clock, random source and logger. */
export interface VaultDependencies {
  clock?: Clock;
  random?: RandomBytes;
  logger?: Logger;
  /** Outbound fetch of vendor documents; default: safeFetchJson with the SSRF guards. */
  fetchJson?: JsonFetcher;
  /** Outbound webhook posts; default: safePost with the SSRF guards. */
  post?: Poster;
  /** How often the webhook outbox is polled (ms); default 1000. */
  webhookPollMs?: number;
  /** SQLite: the lock shared with the other processes writing the file (serve --workers). */
  writeLock?: WriteLock;
  /** How long a client may take to send a whole request, headers and body (ms); default 15000. */
  requestTimeoutMs?: number;
}

/** Node's defaults (300 s for a request, 60 s for its headers) let a slow client hold a socket. */
const REQUEST_TIMEOUT_MS = 15_000;

/** A running vault: its URL, app, context and a way to stop it. */
export interface RunningVault {
  /** Where customers reach the vault: its public URL, or http://localhost:<port>. */
  url: string;
  /** The port it listens on. */
  port: number;
  origin: string;
  app: Hono<AppEnv>;
  ctx: VaultContext;
  close(): Promise<void>;
}

/**
 * Opens storage (running migrations), loads the master keyring, and builds the context.
 *
 * @example
 * const { ctx, database } = await openVault(config, 'http://localhost:7420');
 */
export async function openVault(
  config: VaultConfig,
  origin: string,
  deps: VaultDependencies = {},
): Promise<{ ctx: VaultContext; database: VaultDatabase }> {
  const random = deps.random ?? systemRandom;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const keyring = loadMasterKeyring(
    { masterKey: config.masterKey, dataDir: config.dataDir },
    random,
  );
  const logger = deps.logger ?? jsonLogger(process.stderr, config.logLevel);
  // mkdir leaves an existing directory as it is: say so when others may read the database.
  const mode = statSync(config.dataDir).mode & 0o777;
  if (mode & 0o077) {
    logger.warn('data_dir_readable_by_others', {
      dataDir: config.dataDir,
      mode: mode.toString(8),
      advice: `chmod 700 ${config.dataDir}`,
    });
  }
  const database = openDatabase(config.database, {
    ...(deps.writeLock ? { writeLock: deps.writeLock } : {}),
    backgroundCheckpoints: {
      onNotice: (event, reason) => logger.warn(event, { reason }),
    },
  });
  try {
    await migrateToLatest(database.db, database.engine);
  } catch (error) {
    await database.close();
    throw error;
  }
  const clock = deps.clock ?? systemClock;
  const signer = new VaultSigner(database.db, keyring, clock, random, origin);
  const fetchJson =
    deps.fetchJson ?? ((url: string) => safeFetchJson(url, { allowLoopbackHttp: config.devMode }));
  const ctx: VaultContext = {
    db: database.db,
    engine: database.engine,
    durability: database.durability,
    keyring,
    clock,
    random,
    logger,
    origin,
    rpId: new URL(origin).hostname,
    sessionTtlMs: config.sessionTtlSeconds * 1000,
    devMode: config.devMode,
    signer,
    vendors: new VendorRegistry(fetchJson, clock, config.devMode, (vendorId) =>
      hasGrants(database.db, vendorId),
    ),
    metrics: new VaultMetrics(),
    trustedProxies: config.trustedProxies ?? NO_TRUSTED_PROXIES,
    metricsAccess: metricsAccess({ token: config.metricsToken, devMode: config.devMode }),
    ceremonyStartsPerMinute: config.ceremonyStartsPerMinute ?? DEFAULT_CEREMONY_STARTS_PER_MINUTE,
  };
  try {
    await signer.init();
  } catch (error) {
    await database.close();
    throw error;
  }
  return { ctx, database };
}

/**
 * Starts the vault's HTTP server. With port 0 a free port is chosen; without a public URL the
 * origin is http://localhost:<port>, which browsers treat as a secure context for passkeys.
 *
 * @example
 * const vault = await startVault(loadConfig(process.env)); console.log(vault.url);
 */
export async function startVault(
  config: VaultConfig,
  deps: VaultDependencies = {},
): Promise<RunningVault> {
  let handler: Hono<AppEnv> | undefined;
  const requestTimeout = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const server = createAdaptorServer({
    serverOptions: {
      requestTimeout,
      headersTimeout: requestTimeout,
      // How often Node looks for requests past those limits (its default: every 30 s).
      connectionsCheckingInterval: Math.min(1000, requestTimeout),
    },
    // The adapter's env carries the socket; pass it on so the vault sees client addresses.
    fetch: (request: Request, env: unknown) =>
      handler
        ? handler.fetch(request, env as AppEnv['Bindings'])
        : problemResponse(problemBody('service_unavailable'), { 'retry-after': '1' }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = config.publicUrl ?? `http://localhost:${port}`;
  let opened: Awaited<ReturnType<typeof openVault>>;
  try {
    opened = await openVault(config, origin, deps);
  } catch (error) {
    server.close();
    throw error;
  }
  const app = buildApp(opened.ctx);
  handler = app;
  const { ctx } = opened;
  const sweeper = setInterval(() => {
    sweepExpired(ctx.db, ctx.clock().getTime()).catch((error: unknown) =>
      ctx.logger.warn('sweep_failed', { error: (error as Error).message }),
    );
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();
  const post =
    deps.post ?? ((url, request) => safePost(url, request, { allowLoopbackHttp: config.devMode }));
  // One delivery round at a time; close() waits for the one in flight.
  let delivering: Promise<void> | undefined;
  const deliverer = setInterval(() => {
    if (delivering) return;
    delivering = deliverDue(ctx, post)
      .then(() => undefined)
      .catch((error: unknown) =>
        ctx.logger.warn('webhook_delivery_failed', { error: (error as Error).message }),
      )
      .finally(() => {
        delivering = undefined;
      });
  }, deps.webhookPollMs ?? 1000);
  deliverer.unref();
  return {
    url: origin,
    port,
    origin,
    app,
    ctx: opened.ctx,
    close: async () => {
      clearInterval(sweeper);
      clearInterval(deliverer);
      await delivering;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      });
      await opened.database.close();
    },
  };
}
