import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAllowedAddress } from './address-policy.ts';
import { OutboundFetchError, safeFetchJson, safePost } from './safe-fetch.ts';

describe('address policy', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::a00:1',
    '2002:a00:1::',
    '::7f00:1',
    '::127.0.0.1',
    '::a9fe:a9fe',
    '::ffff:0:7f00:1',
    '::ffff:0:a9fe:a9fe',
    '3fff:1::1',
    '5f00::1',
    'not-an-ip',
  ])('refuses %s', (address) => {
    expect(isAllowedAddress(address, { allowLoopback: false })).toBe(false);
  });

  it.each([
    '93.184.215.14',
    '8.8.8.8',
    '2606:4700::1111',
    '172.32.0.1',
    '100.128.0.1',
    '::ffff:8.8.8.8',
    '2a00:1450::1',
  ])('allows public %s', (address) => {
    expect(isAllowedAddress(address, { allowLoopback: false })).toBe(true);
  });

  it('allows loopback only in development mode, and nothing else private', () => {
    expect(isAllowedAddress('127.0.0.1', { allowLoopback: true })).toBe(true);
    expect(isAllowedAddress('::1', { allowLoopback: true })).toBe(true);
    expect(isAllowedAddress('10.0.0.1', { allowLoopback: true })).toBe(false);
    expect(isAllowedAddress('169.254.169.254', { allowLoopback: true })).toBe(false);
  });
});

describe('safeFetchJson', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push(request.url ?? '');
      switch (request.url) {
        case '/ok':
          response.writeHead(200, {
            'content-type': 'application/json',
            'cache-control': 'max-age=60',
          });
          response.end('{"vendor":"ok"}');
          return;
        case '/redirect':
          response.writeHead(302, { location: '/ok' }).end();
          return;
        case '/html':
          response.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
          return;
        case '/big':
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(`"${'x'.repeat(70 * 1024)}"`);
          return;
        case '/drip': {
          response.writeHead(200, { 'content-type': 'application/json' });
          const timer = setInterval(() => response.write(' '), 50);
          response.on('close', () => clearInterval(timer));
          return;
        }
        case '/not-json':
          response.writeHead(200, { 'content-type': 'application/json' }).end('{nope');
          return;
        default:
          response.writeHead(404, { 'content-type': 'application/json' }).end('{}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const dev = { allowLoopbackHttp: true };

  it('fetches JSON from a loopback vendor in development mode, with its cache header', async () => {
    expect(await safeFetchJson(`${base}/ok`, dev)).toEqual({
      status: 200,
      body: { vendor: 'ok' },
      cacheControl: 'max-age=60',
    });
  });

  it('refuses plain http outside development mode, before connecting', async () => {
    const before = requests.length;
    await expect(safeFetchJson(`${base}/ok`, { allowLoopbackHttp: false })).rejects.toThrow(
      OutboundFetchError,
    );
    expect(requests.length).toBe(before);
  });

  it.each([
    'https://127.0.0.1/x',
    'https://10.0.0.1/x',
    'https://[::1]/x',
    'https://[::ffff:7f00:1]/x',
    'https://169.254.169.254/latest/meta-data',
    'https://2130706433/x', // 127.0.0.1 as one decimal number
    'https://0x7f000001/x', // in hex
    'https://0177.0.0.1/x', // in octal
    'https://127.1/x', // short form
    'https://localhost/x', // a name that resolves to loopback
  ])('refuses %s without connecting anywhere', async (url) => {
    const refusal = safeFetchJson(url, { allowLoopbackHttp: false, timeoutMs: 2000 });
    await expect(refusal).rejects.toThrow(OutboundFetchError);
    await expect(refusal).rejects.toThrow(/refused address/);
  });

  it('refuses a URL with credentials', async () => {
    await expect(safeFetchJson(`https://user:pw@example.com/x`, dev)).rejects.toThrow(
      /credentials/,
    );
  });

  it('does not follow redirects', async () => {
    const before = requests.length;
    await expect(safeFetchJson(`${base}/redirect`, dev)).rejects.toThrow(/redirect/);
    expect(requests.slice(before)).toEqual(['/redirect']);
  });

  it('refuses other content types, oversized bodies, malformed JSON and slow drips', async () => {
    await expect(safeFetchJson(`${base}/html`, dev)).rejects.toThrow(/content type/);
    await expect(safeFetchJson(`${base}/big`, dev)).rejects.toThrow(/over 65536 bytes/);
    await expect(safeFetchJson(`${base}/not-json`, dev)).rejects.toThrow(/not JSON/);
    const started = Date.now();
    await expect(safeFetchJson(`${base}/drip`, { ...dev, timeoutMs: 400 })).rejects.toThrow(
      /timed out/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('hands back non-200 answers for the caller to refuse', async () => {
    expect((await safeFetchJson(`${base}/missing`, dev)).status).toBe(404);
  });

  describe('DNS answers are checked where the socket connects', () => {
    // The resolver the connection itself uses is the one checked: there is no earlier lookup whose
    // answer could differ (DNS rebinding), and every address in the answer must be allowed.
    function resolver(answers: string[][]) {
      const calls: string[] = [];
      const resolve = (
        hostname: string,
        callback: (e: null, a: { address: string; family: number }[]) => void,
      ) => {
        calls.push(hostname);
        const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
        callback(
          null,
          answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
        );
      };
      return { resolve, calls };
    }

    it.each([
      [['127.0.0.1']],
      [['10.1.2.3']],
      [['169.254.169.254']],
      [['::ffff:192.168.0.1']],
      [['8.8.8.8', '10.0.0.1']],
    ])('refuses a name that resolves to %j, resolving it once', async (answer) => {
      const { resolve, calls } = resolver([answer]);
      await expect(
        safeFetchJson('https://vendor.example/meta.json', { allowLoopbackHttp: false, resolve }),
      ).rejects.toThrow(/refused address/);
      expect(calls).toEqual(['vendor.example']);
    });

    it('does not extend development mode to names that resolve to loopback', async () => {
      const { resolve } = resolver([['127.0.0.1']]);
      await expect(
        safeFetchJson('http://rebind.example/meta.json', { allowLoopbackHttp: true, resolve }),
      ).rejects.toThrow(/only https/);
      await expect(
        safeFetchJson('https://rebind.example/meta.json', { allowLoopbackHttp: true, resolve }),
      ).rejects.toThrow(/refused address 127.0.0.1/);
    });

    it('guards webhook posts the same way', async () => {
      const { resolve } = resolver([['10.0.0.7']]);
      await expect(
        safePost(
          'https://hooks.example/in',
          { headers: {}, body: '{}' },
          { allowLoopbackHttp: false, resolve },
        ),
      ).rejects.toThrow(/refused address 10.0.0.7/);
    });
  });
});
