/**
 * Talking to the vault's JSON API. Same-origin only, the session cookie rides along, and the
 * browser adds the Origin header the vault's CSRF guard asks for on every write.
 */

/** @typedef {{ title?: string, detail?: string, code?: string, status?: number, errors?: { pointer: string, message: string }[] }} Problem */

/** A refusal from the vault, carrying the RFC 9457 problem it answered. */
export class ProblemError extends Error {
  /**
   * @param {number} status
   * @param {Problem} problem
   */
  constructor(status, problem) {
    super(problem.detail ?? problem.title ?? `The vault answered ${status}.`);
    this.name = 'ProblemError';
    this.status = status;
    this.problem = problem;
  }
}

/** @type {() => void} */
let onSignedOut = () => {};

/**
 * Who to tell when the vault says the session is gone (401): the app goes back to the welcome
 * page.
 *
 * @param {() => void} handler
 */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

/** @type {(() => Promise<void>) | null} */
let confirmIdentity = null;

/**
 * Who confirms it is the customer when the vault asks (403 reauthentication_required: adding or
 * removing a passkey, or new recovery codes, long after signing in): a passkey prompt. The call
 * that was refused is then made once more.
 *
 * @param {() => Promise<void>} handler
 */
export function whenConfirmationNeeded(handler) {
  confirmIdentity = handler;
}

/**
 * @typedef {object} RequestOptions
 * @property {unknown} [body] sent as JSON
 * @property {Record<string, string>} [headers]
 * @property {AbortSignal} [signal]
 * @property {boolean} [blob] answer the body as a Blob (downloads) instead of parsed JSON
 * @property {boolean} [confirmed] the customer just confirmed it is them: do not ask again
 */

/**
 * One API call. Resolves with the status, headers and parsed body; rejects with a
 * {@link ProblemError} on any non-2xx answer.
 *
 * @param {string} method
 * @param {string} path a path on this vault, such as /api/v1/records
 * @param {RequestOptions} [options]
 * @returns {Promise<{ status: number, headers: Headers, data: any }>}
 * @example
 * const { data } = await api('GET', '/api/v1/webkeys');
 */
export async function api(method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', ...options.headers };
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', headers, cache: 'no-store' };
  if (options.signal) init.signal = options.signal;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  if (response.ok && options.blob) {
    return { status: response.status, headers: response.headers, data: await response.blob() };
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    // The session check answers 401 by design when signed out; every other 401 means it ended.
    if (response.status === 401 && path !== '/api/v1/auth/session') onSignedOut();
    const problem = data && typeof data === 'object' ? data : {};
    if (problem.code === 'reauthentication_required' && confirmIdentity && !options.confirmed) {
      await confirmIdentity();
      return api(method, path, { ...options, confirmed: true });
    }
    throw new ProblemError(response.status, problem);
  }
  return { status: response.status, headers: response.headers, data };
}

/**
 * Words for any error a page catches: the vault's problem detail or title, or a plain fallback.
 *
 * @param {unknown} error
 */
export function errorMessage(error) {
  if (error instanceof ProblemError) return error.message;
  // fetch rejects with a TypeError when the network fails ("Failed to fetch", "NetworkError ...").
  if (error instanceof TypeError && /fetch|network/i.test(error.message))
    return 'The vault could not be reached. Check your connection and try again.';
  return error instanceof Error ? error.message : String(error);
}
