import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

it('pnpm demo runs the whole flow and leaves its database in --data-dir', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'webkey-demo-test-'));
  try {
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'vendor-sdk/examples/demo.ts', '--data-dir', dataDir],
        {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '' },
        },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.stderr.on('data', (chunk) => (err += chunk));
      child.on('exit', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('4. The optician redeemed it through the SDK');
    expect(stdout).toContain('"memberId":"HH-4471-0923"');
    expect(stdout).toContain('profile.age_over_18 = true');
    expect(stdout).not.toContain('1988-07-14');
    expect(stdout).toMatch(
      /5\. A second redemption was refused: WebkeyUsedOrRevokedError \(request req_/,
    );
    expect(stdout).toMatch(/key_refused by Acme Optics \(demo\) .*\(used_up\)/);
    expect(stdout).toMatch(/7\. .*: 7 entries, verified/);
    expect(existsSync(join(dataDir, 'vault.sqlite'))).toBe(true);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
