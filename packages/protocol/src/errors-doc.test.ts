import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './errors.ts';

/** The rows of a docs page's table of error codes: code, status, and the third column. */
function documentedCodes(
  page = 'protocol.md',
  header = '| code | status | title |',
): [string, number, string][] {
  const text = readFileSync(new URL(`../../../docs/${page}`, import.meta.url), 'utf8');
  const lines = text.slice(text.indexOf(header)).split('\n');
  const end = lines.findIndex((line) => !line.startsWith('|'));
  return lines.slice(2, end).map((line) => {
    const [code, status, title] = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    return [code!.replaceAll('*', '').replaceAll('`', ''), Number(status), title!];
  });
}

describe('docs/protocol.md error table', () => {
  it('lists exactly the codes of ERROR_CODES, with their statuses and titles', () => {
    const catalogue = Object.entries(ERROR_CODES).map(
      ([code, { status, title }]) => [code, status, title] as [string, number, string],
    );
    const byCode = (a: [string, number, string], b: [string, number, string]) =>
      a[0].localeCompare(b[0]);
    expect(documentedCodes().sort(byCode)).toEqual(catalogue.sort(byCode));
  });

  it('docs/errors.md lists exactly the same codes with their statuses', () => {
    const catalogue = Object.entries(ERROR_CODES).map(([code, { status }]) => `${code} ${status}`);
    const documented = documentedCodes('errors.md', '| code | status | when |').map(
      ([code, status]) => `${code} ${status}`,
    );
    expect(documented.sort()).toEqual(catalogue.sort());
  });
});
