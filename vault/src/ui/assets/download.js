/**
 * Saves data as a file through a temporary object URL: the data never travels in a URL that a
 * server or the browser history could keep.
 *
 * @param {Blob} blob
 * @param {string} filename
 * @example saveBlob(new Blob(['hello'], { type: 'text/plain' }), 'hello.txt')
 */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoke later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The file name a Content-Disposition header suggests, or a fallback.
 *
 * @param {Headers} headers
 * @param {string} fallback
 */
export function suggestedName(headers, fallback) {
  const match = /filename="([^"]+)"/.exec(headers.get('content-disposition') ?? '');
  return match?.[1] ?? fallback;
}
