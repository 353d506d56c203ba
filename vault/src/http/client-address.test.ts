import { type AuditEntry, auditEntrySchema, type IssuedWebkey } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHORT_CODE_FAILURE_LIMITS } from '../limits/failure-limits.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, type TestVault, testClock } from '../testing/test-vault.ts';
import { clientAddress, NO_TRUSTED_PROXIES, parseTrustedProxies } from './client-address.ts';

describe('parseTrustedProxies', () => {
  it('reads addresses and CIDR networks of both families', () => {
    const trusted = parseTrustedProxies(' 10.0.0.0/8 ,192.168.1.5, 2001:db8::/32,::1,');
    expect(trusted.networks).toEqual(['10.0.0.0/8', '192.168.1.5/32', '2001:db8::/32', '::1/128']);
    for (const inside of ['10.0.0.1', '10.255.255.255', '192.168.1.5', '2001:db8:1::9', '::1'])
      expect(trusted.has(inside), inside).toBe(true);
    for (const outside of ['11.0.0.1', '192.168.1.4', '2001:db9::1', '::2', 'nonsense', ''])
      expect(trusted.has(outside), outside).toBe(false);
    // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6.
    expect(trusted.has('::ffff:10.1.2.3')).toBe(true);
  });

  it('trusts nobody for an empty list', () => {
    expect(parseTrustedProxies(' , ')).toBe(NO_TRUSTED_PROXIES);
    expect(NO_TRUSTED_PROXIES.has('127.0.0.1')).toBe(false);
  });

  it.each([
    'proxy.internal',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/8/8',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/0x8',
    '10.0.0.256',
    '*',
  ])('refuses %s, naming it', (entry) => {
    expect(() => parseTrustedProxies(`127.0.0.1, ${entry}`)).toThrow(entry);
  });
});

describe('clientAddress', () => {
  const proxies = parseTrustedProxies('10.0.0.0/8, 2001:db8::/32');

  it.each([
    // [peer, X-Forwarded-For, client]
    ['203.0.113.7', '6.6.6.6', '203.0.113.7'], // the peer is no proxy: the header is anyone's
    ['10.0.0.2', undefined, '10.0.0.2'], // a proxy that forwards nothing is the client
    ['10.0.0.2', '203.0.113.7', '203.0.113.7'],
    ['10.0.0.2', '6.6.6.6, 203.0.113.7', '203.0.113.7'], // a client's prepended lie is not read
    ['10.0.0.2', '6.6.6.6,203.0.113.7, 10.0.0.9', '203.0.113.7'], // two proxies in a row
    ['10.0.0.2', '10.0.0.8, 10.0.0.9', '10.0.0.8'], // every hop trusted: the leftmost
    ['10.0.0.2', '203.0.113.7:51234', '203.0.113.7'],
    ['10.0.0.2', '[2001:db9::7]:443', '2001:db9::7'],
    ['10.0.0.2', '[2001:db9::7]', '2001:db9::7'],
    ['2001:db8::1', '2001:db9::7', '2001:db9::7'],
    ['::ffff:10.0.0.2', '203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '6.6.6.6', '203.0.113.7'],
    ['10.0.0.2', '6.6.6.6, unknown', '10.0.0.2'], // garbage from a proxy: stop at that proxy
    ['10.0.0.2', 'evil, 10.0.0.9', '10.0.0.9'],
    ['10.0.0.2', '', '10.0.0.2'],
    ['10.0.0.2', '203.0.113.7 , ', '10.0.0.2'],
    ['10.0.0.2', '[10.0.0.1]', '10.0.0.2'], // brackets are for IPv6 only
  ] as const)('peer %s, X-Forwarded-For %j: %s', (peer, forwardedFor, client) => {
    expect(clientAddress(peer, forwardedFor, proxies)).toBe(client);
  });

  const forwardedProxies = parseTrustedProxies('10.0.0.0/8, 2001:db8::/32', 'forwarded');

  it.each([
    // [peer, Forwarded, client]
    ['203.0.113.7', 'for=6.6.6.6', '203.0.113.7'], // the peer is no proxy: the header is anyone's
    ['10.0.0.2', 'for=203.0.113.7', '203.0.113.7'],
    ['10.0.0.2', 'for=203.0.113.7;proto=https;by=10.0.0.2', '203.0.113.7'],
    ['10.0.0.2', 'proto=https;For=203.0.113.7', '203.0.113.7'], // parameter names are case-blind
    ['10.0.0.2', 'for=6.6.6.6, for=203.0.113.7', '203.0.113.7'], // a prepended lie is not read
    ['10.0.0.2', 'for=6.6.6.6,for=203.0.113.7, for=10.0.0.9', '203.0.113.7'],
    ['10.0.0.2', 'for="203.0.113.7:4711"', '203.0.113.7'],
    ['10.0.0.2', 'for="[2001:db9::7]:4711"', '2001:db9::7'],
    ['10.0.0.2', 'for="[2001:db9::7]"', '2001:db9::7'],
    ['10.0.0.2', 'for=6.6.6.6;host="a,b", for=203.0.113.7', '203.0.113.7'], // comma in quotes
    ['10.0.0.2', 'for=6.6.6.6;host="a\\",b", for=203.0.113.7', '203.0.113.7'], // escaped quote
    ['10.0.0.2', 'for=unknown', '10.0.0.2'], // not an address: stop at the proxy that wrote it
    ['10.0.0.2', 'for=_hidden, for=10.0.0.9', '10.0.0.9'],
    ['10.0.0.2', 'for=6.6.6.6, proto=https', '10.0.0.2'], // an element without for
    ['10.0.0.2', 'for="203.0.113.7', '10.0.0.2'], // unterminated quote
    ['10.0.0.2', '203.0.113.7', '10.0.0.2'], // X-Forwarded-For syntax is no Forwarded element
  ] as const)('peer %s, Forwarded %j: %s', (peer, forwarded, client) => {
    expect(clientAddress(peer, forwarded, forwardedProxies)).toBe(client);
  });

  it('has no address for a request without a socket', () => {
    expect(clientAddress(null, '203.0.113.7', proxies)).toBeNull();
  });
});

describe('client addresses over HTTP', () => {
  const clock = testClock(Date.now());
  let direct: TestVault;
  let proxied: TestVault;
  let forwardedProxied: TestVault;
  const vendors: TestVendor[] = [];

  beforeAll(async () => {
    [direct, proxied, forwardedProxied] = await Promise.all([
      startTestVault('sqlite', { clock, config: { devMode: true } }),
      startTestVault('sqlite', {
        clock,
        config: { devMode: true, trustedProxies: parseTrustedProxies('127.0.0.1') },
      }),
      startTestVault('sqlite', {
        clock,
        config: {
          devMode: true,
          trustedProxies: parseTrustedProxies('127.0.0.1', 'forwarded'),
        },
      }),
    ]);
    for (const name of ['First', 'Second', 'Third']) vendors.push(await TestVendor.start(name));
  });
  afterAll(async () => {
    await Promise.all(vendors.map((vendor) => vendor.stop()));
    await Promise.all([direct?.dispose(), proxied?.dispose(), forwardedProxied?.dispose()]);
  });

  async function customerWithKey(vault: TestVault): Promise<[VaultCustomer, IssuedWebkey]> {
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: ['1 Proxy Lane'], locality: 'Bern', country: 'CH' },
      201,
    );
    const key = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home'], purpose: 'Addresses', uses: 3 },
      201,
    );
    return [customer, key];
  }

  async function redeemedFrom(customer: VaultCustomer): Promise<AuditEntry> {
    const { entries } = await customer.expect<{ entries: unknown[] }>(
      'GET',
      '/api/v1/audit',
      undefined,
      200,
    );
    const entry = entries
      .map((e) => auditEntrySchema.parse(e))
      .find((e) => e.event === 'key_redeemed');
    expect(entry).toBeDefined();
    return entry!;
  }

  const both = { 'x-forwarded-for': '198.51.100.9', forwarded: 'for=203.0.113.7;proto=https' };
  it.each([
    // [vault, headers, the audit entry's ip]
    ['nobody', { 'x-forwarded-for': '203.0.113.7' }, '127.0.0.1'],
    ['X-Forwarded-For', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' }, '203.0.113.7'],
    ['X-Forwarded-For', both, '198.51.100.9'],
    ['Forwarded', both, '203.0.113.7'],
  ] as const)('a vault believing %s records headers %j as %s', async (which, headers, ip) => {
    const vault = {
      nobody: direct,
      'X-Forwarded-For': proxied,
      Forwarded: forwardedProxied,
    }[which];
    const [customer, key] = await customerWithKey(vault);
    expect((await vendors[0]!.redeem(vault.url, { key: key.key }, { headers })).status).toBe(200);
    expect((await redeemedFrom(customer)).ip).toBe(ip);
  });

  it('counts the short-code budget per forwarded client address', async () => {
    const [, key] = await customerWithKey(proxied);
    const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });
    const [first, second, third] = vendors as [TestVendor, TestVendor, TestVendor];
    for (let n = 0; n < SHORT_CODE_FAILURE_LIMITS.ip; n++) {
      const guess = `0000-0000-${String(n).padStart(4, '0')}`;
      expectProblem(
        await first.redeem(proxied.url, { code: guess }, from('198.51.100.1')),
        403,
        'webkey_refused',
      );
    }
    // Another vendor behind the same client address is held by that address's budget...
    expectProblem(
      await second.redeem(proxied.url, { code: key.shortCode }, from('198.51.100.1')),
      429,
      'rate_limited',
    );
    // ...but a client at another address is not: the budget is the client's, not the proxy's.
    expect(
      (await third.redeem(proxied.url, { code: key.shortCode }, from('198.51.100.2'))).status,
    ).toBe(200);
  });
});
