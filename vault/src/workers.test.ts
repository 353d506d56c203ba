import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IssuedWebkey } from '@webkey/protocol';
import { TestVendor, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isContention } from './http/problem.ts';
import { workerCount } from './workers.ts';

describe('serve --workers', () => {
  let child: ChildProcess;
  let url: string;
  let dataDir: string;
  let output = '';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'webkey-workers-'));
    child = spawn(
      process.execPath,
      [join(import.meta.dirname, '..', 'bin', 'webkey-vault.js'), 'serve', '--workers', '2'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          WEBKEY_DATA_DIR: dataDir,
          WEBKEY_PORT: '0',
          WEBKEY_DEV: 'true',
          WEBKEY_LOG_LEVEL: 'warn',
        },
      },
    );
    url = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk) => {
        output += chunk;
        const match = /listening on (\S+) \(2 workers\)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
    });
  }, 60_000);
  afterAll(() => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shares one SQLite file between processes: a single-use key is redeemed exactly once, never a 500', async () => {
    const vendor = await TestVendor.start('Worker Shop');
    try {
      const customer = new VaultCustomer(url);
      await customer.signUp();
      await customer.expect(
        'PUT',
        '/api/v1/records/address.home',
        { lines: ['2 Fork Lane'], locality: 'Cork', country: 'IE' },
        201,
      );
      const issued = await customer.expect<IssuedWebkey>(
        'POST',
        '/api/v1/webkeys',
        { scope: ['address.home'], purpose: 'Workers' },
        201,
      );
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => vendor.redeem(url, { key: issued.key })),
      );
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.every((status) => status === 200 || status === 403)).toBe(true);
      // Every process sees the same state.
      for (let n = 0; n < 6; n++) {
        expect(
          (await customer.expect<{ status: string }>('GET', `/api/v1/webkeys/${issued.id}`)).status,
        ).toBe('used');
      }
    } finally {
      await vendor.stop();
    }
  });

  it('stops every worker on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('workers option and contention', () => {
  it('parses --workers', () => {
    expect(workerCount([])).toBeUndefined();
    expect(workerCount(['--workers', '3'])).toBe(3);
    expect(workerCount(['--workers', 'auto'])).toBeGreaterThanOrEqual(1);
    expect(() => workerCount(['--workers', '0'])).toThrow(RangeError);
    expect(() => workerCount(['--workers', 'many'])).toThrow(RangeError);
  });

  it('recognises database contention as retryable', () => {
    expect(isContention(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }))).toBe(true);
    expect(isContention(Object.assign(new Error('deadlock'), { code: '40P01' }))).toBe(true);
    expect(
      isContention(Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })),
    ).toBe(false);
    expect(isContention(new Error('plain'))).toBe(false);
  });
});
