/**
 * The Content-Security-Policy of every web app response. Nothing but the vault's own files may
 * run or style the page: no inline script or style, no third-party host, no framing. The QR code
 * is a `data:` PNG, hence `img-src data:`.
 */
export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * Headers for a web app response: the CSP, framing refused twice (CSP for current browsers,
 * X-Frame-Options for old ones: clickjacking a passkey prompt), and the caching policy.
 */
export function uiHeaders(contentType: string, etag: string): Record<string, string> {
  return {
    'content-type': contentType,
    'content-security-policy': UI_CSP,
    'x-frame-options': 'DENY',
    // Asset names carry no version, so browsers revalidate every time; a 304 is cheap.
    'cache-control': 'no-cache',
    etag,
  };
}
