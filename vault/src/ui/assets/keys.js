import { api } from './api.js';
import { h, pageTitle, uid } from './dom.js';
import { moment, vendorHost } from './format.js';
import { keyStatusWords } from './key-display.js';
import { knownVendors } from './vendors.js';
import { scopeListWords } from './words.js';

/**
 * Keys: the web keys still out there, each revocable in one click; optionally every key ever
 * issued, with what became of it.
 *
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export async function render(root, ctx) {
  const list = h('ul', { class: 'rows' });
  const toggleId = uid('show-all');
  const showAll = /** @type {HTMLInputElement} */ (
    h('input', { type: 'checkbox', id: toggleId, testid: 'keys-show-all' })
  );
  const empty = h('p', { class: 'card empty', hidden: true });
  root.append(
    h(
      'div',
      { class: 'page narrow' },
      pageTitle('Keys'),
      h(
        'p',
        { class: 'lead' },
        'Keys you handed over that can still be read. Revoke one and it stops working at once.',
      ),
      h(
        'div',
        { class: 'check toolbar' },
        showAll,
        h('label', { for: toggleId }, 'Show all keys, also used, expired and revoked ones'),
      ),
      empty,
      list,
    ),
  );

  /** @type {Map<string, string>} */
  let vendors = new Map();

  /** @param {any} key */
  const row = (key) => {
    const audience = key.audience
      ? `Only for ${vendors.get(key.audience) ?? vendorHost(key.audience)}`
      : 'Any vendor';
    const uses = `${key.usesLeft} of ${key.usesTotal} ${key.usesTotal === 1 ? 'use' : 'uses'} left`;
    const active = key.status === 'active';
    return h(
      'li',
      { class: `row-card${active ? '' : ' inactive'}`, testid: 'key-row' },
      h(
        'div',
        { class: 'row-main' },
        h('p', { class: 'row-title' }, key.purpose),
        h('p', {}, scopeListWords(key.scope)),
        h(
          'p',
          { class: 'meta' },
          active
            ? `${uses} · Expires ${moment(key.expiresAt)} · ${audience}`
            : `${keyStatusWords(key)} · Issued ${moment(key.issuedAt)} · ${audience}`,
        ),
      ),
      active
        ? h(
            'button',
            {
              type: 'button',
              testid: 'revoke-key',
              'aria-label': `Revoke the key for ${key.purpose}`,
              onclick: async (/** @type {Event} */ event) => {
                const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
                button.disabled = true;
                ctx.clearError();
                try {
                  await api('DELETE', `/api/v1/webkeys/${encodeURIComponent(key.id)}`);
                  ctx.announce(`Key for ${key.purpose} revoked.`);
                  await load();
                } catch (error) {
                  button.disabled = false;
                  ctx.showError(error);
                }
              },
            },
            'Revoke',
          )
        : null,
    );
  };

  const load = async () => {
    const query = showAll.checked ? '?all=true' : '';
    const { data } = await api('GET', `/api/v1/webkeys${query}`, { signal: ctx.signal });
    list.replaceChildren(...data.webkeys.map(row));
    empty.hidden = data.webkeys.length > 0;
    empty.textContent = showAll.checked
      ? 'You have not handed over any keys yet.'
      : 'No keys can be read right now.';
  };

  showAll.addEventListener('change', () => load().catch(ctx.showError));
  vendors = await knownVendors(ctx.signal);
  await load();
}
