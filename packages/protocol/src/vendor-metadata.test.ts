import { describe, expect, it } from 'vitest';
import { vendorNameSchema } from './federation.ts';

describe('vendor names', () => {
  it.each(['Acme Optics', 'Café Müller & Söhne', '東京メガネ', 'Shop 🕶️'])('accepts %s', (name) => {
    expect(vendorNameSchema.parse(name)).toBe(name);
  });

  it.each([
    ['a right-to-left override', 'Acme \u202eskcitpO'],
    ['a zero-width space', 'Acme\u200bOptics'],
    ['a zero-width joiner', 'Acme\u200dOptics'],
    ['a byte-order mark inside', 'Acme\ufeffOptics'],
    ['a newline', 'Acme\nOptics'],
    ['a NUL', 'Acme\u0000'],
    ['nothing but spaces', '   '],
    ['101 characters', 'x'.repeat(101)],
  ])('refuses a name with %s', (_what, name) => {
    expect(vendorNameSchema.safeParse(name).success).toBe(false);
  });
});
