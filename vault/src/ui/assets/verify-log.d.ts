/** Types of verify-log.js, for the vault's tests (the browser module itself is plain JS). */

export type Verification =
  | { ok: true; entries: number; head: string }
  | {
      ok: false;
      entries: number;
      firstBad: { index: number; seq?: number; id?: string; reason: string };
    };

export function canonicalJson(value: unknown): string;
export function sha256Hex(text: string): Promise<string>;
export function entryHash(entry: Record<string, unknown>): Promise<string>;
export function verifyExport(
  exported: unknown,
  jwks: { keys?: unknown[] },
  expectedIssuer?: string,
): Promise<Verification>;
