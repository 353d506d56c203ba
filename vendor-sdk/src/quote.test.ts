import { describe, expect, it } from 'vitest';
import { quote } from './quote.ts';

describe('quote', () => {
  it('escapes C0, DEL and C1 controls and bidi overrides, keeping the JSON value', () => {
    const hostile =
      'https://x\u001b]0;owned\u0007\u009b2J\u007f\u202eKO TIAUV\u202c\u2066\u2069\u200f\u2028';
    const quoted = quote(hostile);
    expect(quoted).toMatch(/^"[\x20-\x7e]*"$/);
    expect(JSON.parse(quoted)).toBe(hostile);
    expect(quote('Zoë Ďurová, https://vault.example')).toBe('"Zoë Ďurová, https://vault.example"');
  });
});
