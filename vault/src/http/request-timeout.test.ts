import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestVault, type TestVault } from '../testing/test-vault.ts';

/** Sends `text` and collects what the server answers until it closes the connection. */
async function trickle(vault: TestVault, text: string): Promise<{ answer: string; ms: number }> {
  const url = new URL(vault.url);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const started = performance.now();
  socket.write(text);
  let answer = '';
  socket.on('data', (chunk) => {
    answer += chunk.toString('latin1');
  });
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { answer, ms: performance.now() - started };
}

describe('slow clients', () => {
  let vault: TestVault;
  beforeAll(async () => {
    vault = await startTestVault('sqlite', { requestTimeoutMs: 300 });
  });
  afterAll(async () => {
    await vault.dispose();
  });

  it.each([
    ['headers that never end', 'GET /livez HTTP/1.1\r\nhost: localhost\r\nx-slow: '],
    [
      'a body that never arrives',
      'POST /vendor/v1/redeem HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"key":',
    ],
  ])('are cut off after the request timeout: %s', async (_name, text) => {
    const { answer, ms } = await trickle(vault, text);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    // Node looks for late requests once a second here; its default would be 30 s (and 300 s).
    expect(ms).toBeLessThan(5000);
  });

  it('do not stop a prompt client', async () => {
    expect((await fetch(`${vault.url}/livez`)).status).toBe(200);
  });
});
