import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import { NO_TRUSTED_PROXIES } from './http/client-address.ts';

describe('loadConfig', () => {
  it('defaults to SQLite under ./.webkey on localhost:7420', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 7420,
      publicUrl: undefined,
      dataDir: '/srv/app/.webkey',
      database: { kind: 'sqlite', file: '/srv/app/.webkey/vault.sqlite' },
      masterKey: undefined,
      sessionTtlSeconds: 43_200,
      devMode: false,
      logLevel: 'info',
      trustedProxies: NO_TRUSTED_PROXIES,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('uses Postgres when DATABASE_URL is set', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/vault' });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/vault' });
  });

  it('reads every variable', () => {
    const config = loadConfig(
      {
        WEBKEY_HOST: '0.0.0.0',
        WEBKEY_PORT: '8080',
        WEBKEY_PUBLIC_URL: 'https://vault.example/',
        WEBKEY_DATA_DIR: '/var/lib/webkey',
        WEBKEY_MASTER_KEY: 'k',
        WEBKEY_SESSION_TTL_SECONDS: '600',
        WEBKEY_DEV: 'true',
        WEBKEY_METRICS_TOKEN: 'scraper-token-0123456789abcdef0123456789',
        WEBKEY_CEREMONY_LIMIT: '500',
      },
      '/ignored',
    );
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      publicUrl: 'https://vault.example',
      dataDir: '/var/lib/webkey',
      masterKey: 'k',
      sessionTtlSeconds: 600,
      devMode: true,
      metricsToken: 'scraper-token-0123456789abcdef0123456789',
      ceremonyStartsPerMinute: 500,
    });
  });

  it('reads the trusted proxies as addresses and networks', () => {
    const { trustedProxies } = loadConfig({
      WEBKEY_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.5,fd00::/8',
    });
    expect(trustedProxies?.networks).toEqual(['10.0.0.0/8', '192.168.1.5/32', 'fd00::/8']);
    expect(trustedProxies?.has('10.20.30.40')).toBe(true);
    expect(trustedProxies?.has('192.168.1.6')).toBe(false);
    expect(trustedProxies?.header).toBe('x-forwarded-for');
  });

  it('reads the header the trusted proxies write', () => {
    const { trustedProxies } = loadConfig({
      WEBKEY_TRUSTED_PROXIES: '10.0.0.0/8',
      WEBKEY_FORWARDED_HEADER: 'forwarded',
    });
    expect(trustedProxies?.header).toBe('forwarded');
  });

  it('ignores unrelated variables and empty values', () => {
    expect(loadConfig({ PATH: '/bin', HOME: '/root', WEBKEY_PORT: '' }).port).toBe(7420);
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ WEBKEY_PORT: 'eighty' }, /WEBKEY_PORT/],
    [{ WEBKEY_PORT: '70000' }, /WEBKEY_PORT/],
    [{ WEBKEY_SESSION_TTL_SECONDS: '10' }, /WEBKEY_SESSION_TTL_SECONDS/],
    [{ WEBKEY_DEV: 'maybe' }, /WEBKEY_DEV/],
    [{ WEBKEY_LOG_LEVEL: 'debug' }, /WEBKEY_LOG_LEVEL/],
    [{ WEBKEY_PUBLIC_URL: 'not a url' }, /WEBKEY_PUBLIC_URL/],
    [{ WEBKEY_PUBLIC_URL: 'http://vault.example' }, /WEBKEY_PUBLIC_URL must use https/],
    [{ WEBKEY_PUBLIC_URL: 'https://vault.example/app' }, /WEBKEY_PUBLIC_URL must be an origin/],
    [{ DATABASE_URL: 'mysql://db/vault' }, /DATABASE_URL/],
    [{ WEBKEY_TRUSTED_PROXIES: '10.0.0.0/33' }, /WEBKEY_TRUSTED_PROXIES: .*10\.0\.0\.0\/33/],
    [{ WEBKEY_TRUSTED_PROXIES: 'proxy.internal' }, /WEBKEY_TRUSTED_PROXIES/],
    [{ WEBKEY_FORWARDED_HEADER: 'x-real-ip' }, /WEBKEY_FORWARDED_HEADER/],
    [
      { WEBKEY_FORWARDED_HEADER: 'forwarded' },
      /WEBKEY_FORWARDED_HEADER needs WEBKEY_TRUSTED_PROXIES/,
    ],
    [{ WEBKEY_METRICS_TOKEN: 'short' }, /WEBKEY_METRICS_TOKEN: 32 to 512 visible ASCII/],
    [{ WEBKEY_METRICS_TOKEN: `${'x'.repeat(31)} y` }, /WEBKEY_METRICS_TOKEN/],
    [{ WEBKEY_CEREMONY_LIMIT: '0' }, /WEBKEY_CEREMONY_LIMIT/],
    [{ WEBKEY_CEREMONY_LIMIT: 'lots' }, /WEBKEY_CEREMONY_LIMIT/],
    [{ WEBKEY_PROT: '8080' }, /unknown variable\(s\) WEBKEY_PROT/],
  ];
  it.each(bad)('refuses %o with a message naming the variable', (environment, message) => {
    expect(() => loadConfig(environment)).toThrow(ConfigError);
    expect(() => loadConfig(environment)).toThrow(message);
  });

  it('allows plain http for a loopback public URL', () => {
    expect(loadConfig({ WEBKEY_PUBLIC_URL: 'http://localhost:9000' }).publicUrl).toBe(
      'http://localhost:9000',
    );
  });
});
