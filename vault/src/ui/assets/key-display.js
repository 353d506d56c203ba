import { api } from './api.js';
import { h } from './dom.js';
import { clockTime, countdown, vendorHost } from './format.js';
import { scopeListWords } from './words.js';

/**
 * The key on screen at the counter: a big QR code, the short code, a countdown, and a status
 * that follows the key (polling once a second) until a vendor reads it, or it expires, is used up
 * or is revoked.
 */

const POLL_MS = 1000;

/**
 * The status line of a key summary. The vendor's host goes with its name: any vendor can call
 * itself "Acme Optics", but only Acme's own site serves its id.
 *
 * @param {{ status: string, lastRedeemedAt: string | null, lastVendor: { id: string, name: string } | null, usesLeft: number }} key
 */
export function keyStatusWords(key) {
  if (key.status === 'revoked') return 'Revoked';
  if (key.lastRedeemedAt && key.lastVendor) {
    const vendor = `${key.lastVendor.name} (${vendorHost(key.lastVendor.id)})`;
    const read = `Read by ${vendor} at ${clockTime(key.lastRedeemedAt)}`;
    if (key.status !== 'active') return read;
    return `${read}. ${key.usesLeft} ${key.usesLeft === 1 ? 'use' : 'uses'} left.`;
  }
  if (key.status === 'expired') return 'Expired';
  if (key.status === 'used') return 'Used';
  return 'Waiting for the vendor to scan it…';
}

/**
 * Shows an issued key and keeps it up to date until `signal` aborts.
 *
 * @param {any} issued the answer of POST /api/v1/webkeys
 * @param {{ signal: AbortSignal, showError: (error: unknown) => void, onDone: () => void }} options
 * @returns {HTMLElement}
 */
export function keyDisplay(issued, { signal, showError, onDone }) {
  // Count down on this device's clock from the key's own lifetime, so a skewed clock cannot
  // show a key as expired (or alive) when it is not.
  const lifetimeMs = Date.parse(issued.expiresAt) - Date.parse(issued.issuedAt);
  const expiresLocally = Date.now() + lifetimeMs;

  const timer = h('span', { testid: 'countdown', role: 'timer', class: 'mono' });
  const status = h(
    'p',
    { class: 'key-status', testid: 'key-status', role: 'status', 'aria-live': 'polite' },
    keyStatusWords(issued),
  );
  const qr = h('img', {
    src: issued.qr.png,
    alt: 'Web key QR code',
    class: 'qr',
    testid: 'qr',
    width: '320',
    height: '320',
  });
  const revoke = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'button', testid: 'revoke-current' }, 'Revoke this key')
  );
  const panel = h(
    'section',
    { class: 'key-panel', 'aria-labelledby': 'key-heading' },
    h('h2', { id: 'key-heading' }, 'Show this to the clerk'),
    h('p', { class: 'key-scope' }, `${scopeListWords(issued.scope)} · ${issued.purpose}`),
    h('div', { class: 'qr-frame' }, qr),
    h('p', { class: 'meta' }, 'Or read out this code'),
    h('p', { class: 'short-code mono', testid: 'short-code' }, issued.shortCode),
    h('p', { class: 'expiry' }, 'Expires in ', timer),
    status,
    h(
      'div',
      { class: 'actions center' },
      revoke,
      h('button', { type: 'button', class: 'primary', testid: 'new-key', onclick: onDone }, 'Done'),
    ),
  );

  let finished = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pollTimer;
  const tick = () => {
    timer.textContent = countdown(expiresLocally - Date.now());
  };
  tick();
  const clock = setInterval(tick, 250);

  /** The key can no longer be redeemed: freeze the screen in its final state. */
  const finish = () => {
    finished = true;
    clearInterval(clock);
    clearTimeout(pollTimer);
    revoke.disabled = true;
    panel.classList.add('finished');
  };

  /** @param {any} key */
  const update = (key) => {
    const words = keyStatusWords(key);
    // Only write on change: aria-live repeats the whole text to screen readers on each write.
    if (status.textContent !== words) status.textContent = words;
    if (key.lastRedeemedAt) panel.classList.add('read');
    if (key.status !== 'active') finish();
  };

  const poll = async () => {
    if (finished || signal.aborted) return;
    try {
      const { data } = await api('GET', `/api/v1/webkeys/${encodeURIComponent(issued.id)}`, {
        signal,
      });
      update(data);
    } catch {
      if (signal.aborted) return;
      // A dropped poll is retried next second; the countdown carries on meanwhile.
    }
    if (!finished && !signal.aborted) pollTimer = setTimeout(poll, POLL_MS);
  };
  pollTimer = setTimeout(poll, POLL_MS);

  signal.addEventListener('abort', finish);

  revoke.addEventListener('click', async () => {
    revoke.disabled = true;
    try {
      const { data } = await api('DELETE', `/api/v1/webkeys/${encodeURIComponent(issued.id)}`);
      update(data);
    } catch (error) {
      revoke.disabled = false;
      showError(error);
    }
  });

  return panel;
}
