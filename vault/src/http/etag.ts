/**
 * Entity tags (RFC 9110 section 8.8.3). Record ETags are the quoted version id and always strong.
 */

/** The ETag header value for a version id. @example etagOf('ver_1') // '"ver_1"' */
export function etagOf(versionId: string): string {
  return `"${versionId}"`;
}

/**
 * The version ids listed in an If-Match header: `*`, or strong tags. Weak tags (W/"...") can never
 * match under the strong comparison If-Match requires, so they are dropped; a header with no
 * usable tag matches nothing.
 *
 * @example
 * parseIfMatch('"ver_1", W/"ver_2"') // ['ver_1']
 */
export function parseIfMatch(header: string | undefined): string[] | undefined {
  if (header === undefined) return undefined;
  const tags: string[] = [];
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*') tags.push('*');
    else if (/^"[^"]*"$/.test(tag)) tags.push(tag.slice(1, -1));
  }
  return tags;
}
