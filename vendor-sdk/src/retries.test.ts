import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  InvalidRequestError,
  RateLimitedError,
  VaultResponseError,
  VaultUnreachableError,
  VendorAuthenticationError,
  WebkeyUsedOrRevokedError,
} from './errors.ts';
import { harness } from './test-support.ts';
import type { RedemptionScript, ScriptedAnswer } from './testing/index.ts';
import { problem } from './testing/index.ts';

/** Answers with `answers` in turn, then behaves like a vault. */
function sequence(...answers: ScriptedAnswer[]): RedemptionScript {
  return (request, actions) => answers.shift() ?? actions.redeem(request);
}

/** A port on 127.0.0.1 with nothing listening. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `response` with its headers, whose body breaks off after 20 bytes (a dropped connection). */
async function cutOff(response: Response): Promise<Response> {
  const text = await response.text();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text.slice(0, 20)));
      controller.error(new TypeError('terminated'));
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

describe('retries', () => {
  it('retries a 503 with the same Idempotency-Key and a fresh assertion, then succeeds', async () => {
    const { vault, client, sleeps } = await harness();
    vault.script(sequence(problem('service_unavailable'), problem('internal_error')));
    const { key } = await vault.issueWebkey();

    await expect(client.redeem(key)).resolves.toMatchObject({ issuer: vault.issuer });

    expect(vault.redemptions).toHaveLength(3);
    const keys = new Set(vault.redemptions.map((r) => r.idempotencyKey));
    expect(keys.size).toBe(1);
    const assertions = vault.redemptions.map((r) => String(r.body.client_assertion));
    const jtis = assertions.map(
      (a) => JSON.parse(Buffer.from(a.split('.')[1]!, 'base64url').toString()).jti,
    );
    expect(new Set(jtis).size).toBe(3);
    // Full jitter under a cap: attempt 1 waits < 100 ms, attempt 2 < 200 ms.
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeLessThan(100);
    expect(sleeps[1]).toBeLessThan(200);
  });

  it('retries a 409 and a dropped connection', async () => {
    const { vault, client } = await harness();
    vault.script(sequence(problem('conflict'), { hangUp: true }));
    await client.redeem((await vault.issueWebkey()).key);
    expect(vault.redemptions).toHaveLength(3);
  });

  it('retries a 200 whose body is cut off with the same Idempotency-Key, and gets the stored answer', async () => {
    const { vault, makeClient, sleeps } = await harness({
      records: { profile: { legalName: 'Ada' } },
    });
    const stored: Response[] = [];
    const client = makeClient({
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (init.method !== 'POST') return response;
        stored.push(response.clone());
        return stored.length === 1 ? cutOff(response) : response;
      },
    });
    const redemption = await client.redeem((await vault.issueWebkey({ scope: ['profile'] })).key);
    expect(redemption.field('profile')).toEqual({ legalName: 'Ada' });
    const [first, second] = vault.redemptions;
    expect(second?.idempotencyKey).toBe(first?.idempotencyKey);
    expect(sleeps).toHaveLength(1);
    // The first answer was the redemption itself: the retry returned it, nothing more was used.
    const firstAnswer = (await stored[0]!.json()) as { redemptionId: string };
    expect(redemption.redemptionId).toBe(firstAnswer.redemptionId);
  });

  it('reports a 200 cut off at every attempt as VaultUnreachableError, not as a bad answer', async () => {
    const { vault, makeClient } = await harness();
    const client = makeClient({
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        return init.method === 'POST' ? cutOff(response) : response;
      },
    });
    const error = await client.redeem((await vault.issueWebkey()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultUnreachableError);
    expect((error as Error).message).toMatch(/after 3 attempts/);
    expect((error as VaultUnreachableError).detail).toMatch(/terminated/);
    expect(vault.redemptions).toHaveLength(3);
  });

  it('counts a body still arriving at the attempt timeout as no answer', async () => {
    const { vault, makeClient } = await harness();
    let posts = 0;
    const client = makeClient({
      retry: { attemptTimeoutMs: 50, sleep: async () => {} },
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (init.method !== 'POST' || ++posts > 1) return response;
        // Headers, then a body that stalls until the attempt's signal gives up on it.
        const stalled = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"redemptionId":'));
            init.signal?.addEventListener('abort', () => controller.error(init.signal?.reason));
          },
        });
        return new Response(stalled, { status: 200, headers: response.headers });
      },
    });
    await expect(client.redeem((await vault.issueWebkey()).key)).resolves.toBeDefined();
    expect(vault.redemptions).toHaveLength(2);
  });

  it('gives up after 3 attempts and reports the last 5xx with its request id', async () => {
    const { vault, client } = await harness();
    vault.script(() => problem('service_unavailable'));
    const error = await client.redeem((await vault.issueWebkey()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultResponseError);
    expect(error).toMatchObject({ code: 'service_unavailable', status: 503 });
    expect((error as VaultResponseError).requestId).toMatch(/^req_/);
    expect(vault.redemptions).toHaveLength(3);
  });

  it.each([
    ['invalid_request', InvalidRequestError],
    ['invalid_client', VendorAuthenticationError],
    ['webkey_refused', WebkeyUsedOrRevokedError],
    ['idempotency_key_reused', InvalidRequestError],
  ] as const)('does not retry %s', async (code, errorClass) => {
    const { vault, client, sleeps } = await harness();
    vault.script(() => problem(code));
    await expect(client.redeem((await vault.issueWebkey()).key)).rejects.toBeInstanceOf(errorClass);
    expect(vault.redemptions).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('waits out a short Retry-After on 429', async () => {
    const { vault, client, sleeps } = await harness();
    vault.script(sequence(problem('rate_limited', { headers: { 'retry-after': '2' } })));
    await client.redeem((await vault.issueWebkey()).key);
    expect(sleeps).toEqual([2000]);
    expect(vault.redemptions).toHaveLength(2);
  });

  it('stops at a Retry-After beyond the cap and reports it', async () => {
    const { vault, client } = await harness();
    vault.script(() => problem('rate_limited', { headers: { 'retry-after': '120' } }));
    const error = await client.redeem((await vault.issueWebkey()).key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ retryAfterSeconds: 120, status: 429 });
    expect(vault.redemptions).toHaveLength(1);
  });

  it('reports a refused connection as VaultUnreachableError after 3 attempts', async () => {
    const { vault, makeClient, fetches, sleeps } = await harness();
    const issuer = `http://127.0.0.1:${await closedPort()}`;
    const client = makeClient({ trust: { issuers: [issuer] } });
    const error = await client.redeem('7KQ2-M9XD-4TRA').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultUnreachableError);
    expect(error).toMatchObject({ code: 'vault_unreachable' });
    expect((error as Error).message).toMatch(/after 3 attempts/);
    expect(fetches).toEqual(Array(3).fill(`GET ${issuer}/.well-known/webkey-vault`));
    expect(sleeps).toHaveLength(2);
    expect(vault.requests).toEqual([]);
  });

  it('reports an unreachable redemption endpoint the same way', async () => {
    const posts: string[] = [];
    const { vault, client } = await harness(
      {},
      {
        // Discovery answers; the redemption endpoint's connection is refused.
        fetch: (url, init) => {
          if (init.method !== 'POST') return fetch(url, init);
          posts.push(url);
          return Promise.reject(new TypeError('fetch failed'));
        },
      },
    );
    await expect(client.redeem((await vault.issueWebkey()).key)).rejects.toBeInstanceOf(
      VaultUnreachableError,
    );
    expect(posts).toHaveLength(3);
    expect(new Set(posts)).toEqual(new Set([`${vault.issuer}/redeem`]));
    expect(vault.redemptions).toEqual([]);
  });

  it('stops at once when the caller aborts', async () => {
    const { vault, client } = await harness();
    const controller = new AbortController();
    vault.script(() => {
      controller.abort(new Error('clerk cancelled'));
      return problem('service_unavailable');
    });
    await expect(
      client.redeem((await vault.issueWebkey()).key, { signal: controller.signal }),
    ).rejects.toThrow('clerk cancelled');
    expect(vault.redemptions).toHaveLength(1);
  });

  it('reuses a caller-supplied Idempotency-Key', async () => {
    const { vault, client } = await harness();
    await client.redeem((await vault.issueWebkey()).key, { idempotencyKey: 'pos-42-sale-7' });
    expect(vault.redemptions[0]?.idempotencyKey).toBe('pos-42-sale-7');
  });
});
