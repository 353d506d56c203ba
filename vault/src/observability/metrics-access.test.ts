import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, type TestVault } from '../testing/test-vault.ts';
import { metricsAccess } from './metrics-access.ts';

const TOKEN = 'metrics-token-3f9c2a7e1b8d4c6a9e0f1a2b';

describe('metricsAccess', () => {
  const withToken = metricsAccess({ token: TOKEN, devMode: false });
  it.each([
    [`Bearer ${TOKEN}`, 'allowed'],
    [`bearer ${TOKEN}`, 'allowed'],
    [`Bearer ${TOKEN} `, 'allowed'],
    [undefined, 'unauthenticated'],
    ['', 'unauthenticated'],
    [TOKEN, 'unauthenticated'],
    [`Basic ${TOKEN}`, 'unauthenticated'],
    [`Bearer ${TOKEN.slice(0, -1)}`, 'unauthenticated'],
    [`Bearer ${TOKEN}x`, 'unauthenticated'],
    [`Bearer ${TOKEN} ${TOKEN}`, 'unauthenticated'],
  ])('with a token, lets %j in: %s', (authorization, access) => {
    expect(withToken(authorization)).toBe(access);
  });

  it('without a token, is open only in development mode', () => {
    expect(metricsAccess({ token: undefined, devMode: true })(undefined)).toBe('allowed');
    expect(metricsAccess({ token: undefined, devMode: false })(`Bearer ${TOKEN}`)).toBe('disabled');
  });

  it('with a token, wants it in development mode too', () => {
    expect(metricsAccess({ token: TOKEN, devMode: true })(undefined)).toBe('unauthenticated');
  });
});

describe('/metrics over HTTP', () => {
  let guarded: TestVault;
  let closed: TestVault;
  beforeAll(async () => {
    [guarded, closed] = await Promise.all([
      startTestVault('sqlite', { config: { metricsToken: TOKEN } }),
      startTestVault('sqlite'),
    ]);
  });
  afterAll(async () => {
    await Promise.all([guarded.dispose(), closed.dispose()]);
  });

  async function scrape(vault: TestVault, authorization?: string) {
    const response = await fetch(`${vault.url}/metrics`, {
      headers: authorization ? { authorization } : {},
    });
    const text = await response.text();
    const body = response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, body };
  }

  it('answers the scraper that sends the token', async () => {
    const answer = await scrape(guarded, `Bearer ${TOKEN}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('webkey_redemptions_total');
  });

  it.each([
    ['no credentials', undefined],
    ['a wrong token', 'Bearer not-the-metrics-token-not-the-metrics-token'],
  ])('refuses %s with 401 and a Bearer challenge, and shows no counter', async (_name, auth) => {
    const answer = await scrape(guarded, auth);
    expectProblem(answer, 401, 'unauthenticated');
    expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(JSON.stringify(answer.body)).not.toContain('webkey_');
  });

  it('does not exist without a token outside development mode', async () => {
    expectProblem(await scrape(closed), 404, 'not_found');
    expectProblem(await scrape(closed, `Bearer ${TOKEN}`), 404, 'not_found');
  });
});
