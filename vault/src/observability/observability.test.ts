import { chmodSync } from 'node:fs';
import type { IssuedWebkey } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DurabilityLost } from '../db/group-commit.ts';
import { jsonLogger } from '../deps.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { createTestStorage, startTestVault, type TestVault } from '../testing/test-vault.ts';

describe('metrics, probes and logs', () => {
  let vault: TestVault;
  let vendor: TestVendor;
  const lines: string[] = [];
  const SECRET_STREET = 'Unlogged Lane 77';
  const SECRET_MEMBER = 'MEMBER-NEVER-LOGGED-5531';
  let issued: IssuedWebkey;

  beforeAll(async () => {
    const sink = {
      write: (chunk: string) => lines.push(chunk),
    } as unknown as NodeJS.WritableStream;
    vault = await startTestVault('sqlite', {
      config: { devMode: true },
      logger: jsonLogger(sink, 'info'),
    });
    vendor = await TestVendor.start('Metrics Shop');
    const customer = new VaultCustomer(vault.url);
    await customer.signUp();
    await customer.expect(
      'PUT',
      '/api/v1/records/address.home',
      { lines: [SECRET_STREET], locality: 'Basel', country: 'CH' },
      201,
    );
    await customer.expect(
      'PUT',
      '/api/v1/records/insurance.primary',
      { insurer: 'Alp Health', memberId: SECRET_MEMBER },
      201,
    );
    issued = await customer.expect<IssuedWebkey>(
      'POST',
      '/api/v1/webkeys',
      { scope: ['address.home', 'insurance.primary'], purpose: 'Metrics' },
      201,
    );
    expect((await vendor.redeem(vault.url, { key: issued.key })).status).toBe(200);
    expect((await vendor.redeem(vault.url, { key: issued.key })).status).toBe(403);
  });
  afterAll(async () => {
    await vendor.stop();
    await vault.dispose();
  });

  it('exposes Prometheus metrics: requests by route and status, latency, redemptions, refusals by reason', async () => {
    const response = await fetch(`${vault.url}/metrics`);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4');
    const text = await response.text();
    expect(text).toContain('webkey_redemptions_total 1');
    expect(text).toContain('webkey_webhook_outbox_pending 0');
    expect(text).toContain('webkey_redemption_refusals_total{reason="used_up"} 1');
    expect(text).toMatch(
      /webkey_http_requests_total\{method="POST",route="\/vendor\/v1\/redeem",status="200"\} 1/,
    );
    expect(text).toMatch(
      /webkey_http_requests_total\{method="POST",route="\/vendor\/v1\/redeem",status="403"\} 1/,
    );
    expect(text).toMatch(
      /webkey_http_request_duration_seconds_bucket\{route="\/vendor\/v1\/redeem",le="\+Inf"\} 2/,
    );
    // This process's memory and CPU: the vault runs in the test's process here.
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const rss = value('process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(10e6);
    expect(rss).toBeLessThan(process.memoryUsage().rss * 2);
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(1e6);
    expect(value('nodejs_heap_size_used_bytes')).toBeLessThanOrEqual(
      value('nodejs_heap_size_total_bytes'),
    );
    expect(value('nodejs_external_memory_bytes')).toBeGreaterThan(0);
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
  });

  it('answers liveness and readiness', async () => {
    expect((await fetch(`${vault.url}/livez`)).status).toBe(200);
    expect(await (await fetch(`${vault.url}/readyz`)).json()).toEqual({ status: 'ok' });
  });

  it('logs one structured line per request, and never a value, key or code', async () => {
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const redeemed = entries.filter(
      (e) => e.event === 'request' && e.route === '/vendor/v1/redeem',
    );
    expect(redeemed.map((e) => e.status)).toEqual([200, 403]);
    expect(redeemed[0]).toMatchObject({
      level: 'info',
      method: 'POST',
      requestId: expect.stringMatching(/^req_/),
    });
    // The refusal's real reason, which the vendor is not told, is in the log under its request id.
    expect(entries.filter((e) => e.event === 'request_refused')).toEqual([
      expect.objectContaining({
        requestId: redeemed[1]?.requestId,
        code: 'webkey_refused',
        reason: 'web key refused: used_up',
      }),
    ]);
    const all = lines.join('');
    for (const secret of [
      SECRET_STREET,
      SECRET_MEMBER,
      issued.key,
      issued.shortCode,
      issued.key.split('.')[2]!,
    ]) {
      expect(all).not.toContain(secret);
    }
  });

  it('reports not ready when the database cannot answer', async () => {
    const other = await startTestVault('sqlite');
    try {
      await other.ctx.db.destroy();
      const answer = await fetch(`${other.url}/readyz`);
      expectProblem(
        { status: answer.status, headers: answer.headers, body: await answer.json() },
        503,
        'service_unavailable',
      );
      expect(answer.headers.get('retry-after')).toBe('5');
    } finally {
      await other.close().catch(() => undefined);
      await other.storage.dispose();
    }
  });

  it('reports not ready once commits can no longer be made durable', async () => {
    const other = await startTestVault('sqlite');
    try {
      const lost = new DurabilityLost(new Error('EIO'));
      other.ctx.durability = { flush: () => Promise.reject(lost), failure: () => lost };
      const answer = await fetch(`${other.url}/readyz`);
      expect(answer.status).toBe(503);
      expect(((await answer.json()) as { code: string }).code).toBe('service_unavailable');
    } finally {
      await other.dispose();
    }
  });

  it('warns at start when others may read the data dir', async () => {
    const warnings: string[] = [];
    const sink = {
      write: (chunk: string) => warnings.push(chunk),
    } as unknown as NodeJS.WritableStream;
    const storage = await createTestStorage('sqlite');
    try {
      chmodSync(storage.dataDir, 0o755);
      const open = await startTestVault('sqlite', { storage, logger: jsonLogger(sink, 'warn') });
      await open.close();
      const warning = warnings
        .map((line) => JSON.parse(line))
        .find((entry) => entry.event === 'data_dir_readable_by_others');
      expect(warning).toMatchObject({ mode: '755', advice: `chmod 700 ${storage.dataDir}` });
      chmodSync(storage.dataDir, 0o700);
      warnings.length = 0;
      const closed = await startTestVault('sqlite', { storage, logger: jsonLogger(sink, 'warn') });
      await closed.close();
      expect(warnings.join('')).not.toContain('data_dir_readable_by_others');
    } finally {
      await storage.dispose();
    }
  });
});
