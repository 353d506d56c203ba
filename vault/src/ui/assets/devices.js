import { api } from './api.js';
import { busy, h, pageTitle, uid } from './dom.js';
import { moment } from './format.js';
import { addPasskey } from './passkeys.js';
import { codesPanel } from './recovery-codes.js';

/**
 * Devices: the passkeys that open this vault, recovery codes, and signing out everywhere (for a
 * lost or shared device).
 *
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export async function render(root, ctx) {
  const notice = ctx.handoff.notice;
  delete ctx.handoff.notice;

  const list = h('ul', { class: 'rows' });
  const lastHint = h(
    'p',
    { class: 'hint', id: uid('last-passkey'), hidden: true },
    'This is your only passkey, so it cannot be removed: add another one first.',
  );
  const nameId = uid('device-name');
  const name = /** @type {HTMLInputElement} */ (
    h('input', {
      id: nameId,
      type: 'text',
      testid: 'device-name',
      maxlength: '64',
      autocomplete: 'off',
    })
  );
  const remaining = h('p', { testid: 'recovery-remaining' });
  const codesSlot = h('div', {});
  const regenerate = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'button', testid: 'regenerate-codes' }, 'Make new recovery codes')
  );

  root.append(
    h(
      'div',
      { class: 'page narrow' },
      pageTitle('Devices'),
      notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'passkeys-heading' },
        h('h2', { id: 'passkeys-heading' }, 'Passkeys'),
        h(
          'p',
          {},
          'Each passkey lives on one device or in one password manager and opens your vault.',
        ),
        list,
        lastHint,
        h(
          'form',
          {
            class: 'stack add-device',
            onsubmit: async (/** @type {SubmitEvent} */ event) => {
              event.preventDefault();
              ctx.clearError();
              try {
                await busy(/** @type {HTMLButtonElement} */ (event.submitter), () =>
                  addPasskey(name.value),
                );
                name.value = '';
                ctx.announce('Passkey added.');
                await loadPasskeys();
              } catch (error) {
                ctx.showError(error);
              }
            },
          },
          h(
            'label',
            { for: nameId },
            'Name for the new passkey',
            h('span', { class: 'optional' }, ' (optional)'),
          ),
          name,
          h('button', { type: 'submit', testid: 'add-device' }, 'Add a passkey'),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'codes-heading' },
        h('h2', { id: 'codes-heading' }, 'Recovery codes'),
        remaining,
        h(
          'p',
          { class: 'hint' },
          'Making new codes replaces all the old ones: the old codes stop working.',
        ),
        h('div', { class: 'actions' }, regenerate),
        codesSlot,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'everywhere-heading' },
        h('h2', { id: 'everywhere-heading' }, 'Sign out everywhere'),
        h(
          'p',
          {},
          'Ends every session of your account, on every device, including this one. Use it if a ' +
            'device was lost or someone else used it.',
        ),
        h(
          'button',
          {
            type: 'button',
            testid: 'sign-out-everywhere',
            onclick: async () => {
              try {
                await api('POST', '/api/v1/auth/sign-out-everywhere');
                ctx.setSignedIn(false);
                ctx.handoff.notice = 'You are signed out on every device.';
                ctx.navigate('welcome');
              } catch (error) {
                ctx.showError(error);
              }
            },
          },
          'Sign out everywhere',
        ),
      ),
    ),
  );

  /** @param {any} passkey @param {boolean} last */
  const row = (passkey, last) =>
    h(
      'li',
      { class: 'row-card', testid: 'device-row' },
      h(
        'div',
        { class: 'row-main' },
        h('p', { class: 'row-title' }, passkey.name),
        h(
          'p',
          { class: 'meta' },
          `Added ${moment(passkey.createdAt)} · ` +
            (passkey.lastUsedAt ? `Last used ${moment(passkey.lastUsedAt)}` : 'Not used yet') +
            (passkey.backedUp ? ' · Synced' : ''),
        ),
      ),
      h(
        'button',
        {
          type: 'button',
          testid: 'remove-device',
          disabled: last,
          'aria-describedby': last ? lastHint.id : null,
          'aria-label': `Remove ${passkey.name}`,
          onclick: async (/** @type {Event} */ event) => {
            ctx.clearError();
            try {
              await busy(/** @type {HTMLButtonElement} */ (event.currentTarget), () =>
                api('DELETE', `/api/v1/passkeys/${encodeURIComponent(passkey.id)}`),
              );
              ctx.announce(`${passkey.name} removed.`);
              await loadPasskeys();
            } catch (error) {
              ctx.showError(error);
            }
          },
        },
        'Remove',
      ),
    );

  const loadPasskeys = async () => {
    const { data } = await api('GET', '/api/v1/passkeys', { signal: ctx.signal });
    const last = data.passkeys.length <= 1;
    list.replaceChildren(...data.passkeys.map((/** @type {any} */ p) => row(p, last)));
    lastHint.hidden = !last;
  };

  const loadRemaining = async () => {
    const { data } = await api('GET', '/api/v1/recovery-codes', { signal: ctx.signal });
    remaining.textContent = `Recovery codes: ${data.remaining} left`;
  };

  regenerate.addEventListener('click', async () => {
    ctx.clearError();
    try {
      const { data } = await busy(regenerate, () =>
        api('POST', '/api/v1/recovery-codes', { body: {} }),
      );
      regenerate.hidden = true;
      codesSlot.replaceChildren(
        codesPanel(data.recoveryCodes, () => {
          codesSlot.replaceChildren();
          regenerate.hidden = false;
          regenerate.focus();
        }),
      );
      await loadRemaining();
      codesSlot.querySelector('ol')?.setAttribute('tabindex', '-1');
      codesSlot.querySelector('ol')?.focus();
    } catch (error) {
      ctx.showError(error);
    }
  });

  await Promise.all([loadPasskeys(), loadRemaining()]);
}
