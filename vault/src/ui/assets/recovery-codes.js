import { h, pageTitle } from './dom.js';
import { saveBlob } from './download.js';

/**
 * Recovery codes, shown once: after sign-up (its own page) and after regenerating them (on the
 * Devices page). The vault keeps only their hashes, so this is the only time they exist in clear.
 */

/**
 * The list of codes with ways to keep them and the "I have saved them" button.
 *
 * @param {string[]} codes
 * @param {() => void} onDone
 * @returns {HTMLElement}
 */
export function codesPanel(codes, onDone) {
  const text = `Webkey recovery codes\n\n${codes.join('\n')}\n\nEach code works once.\n`;
  const copied = h('span', { role: 'status', class: 'saved' });
  return h(
    'div',
    { class: 'codes-panel' },
    h(
      'p',
      {},
      'Each code lets you add a new passkey once, if you lose your devices. Keep them somewhere ' +
        'safe, such as a password manager or on paper. They are shown only now.',
    ),
    h(
      'ol',
      { class: 'codes mono', testid: 'recovery-codes' },
      codes.map((code) => h('li', {}, code)),
    ),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(text);
              copied.textContent = 'Copied';
            } catch {
              copied.textContent = 'Copying is blocked here: download them instead.';
            }
          },
        },
        'Copy',
      ),
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            saveBlob(new Blob([text], { type: 'text/plain' }), 'webkey-recovery-codes.txt'),
        },
        'Download',
      ),
      h(
        'button',
        { type: 'button', class: 'primary', testid: 'recovery-done', onclick: onDone },
        'I have saved them',
      ),
      copied,
    ),
  );
}

/**
 * The page right after sign-up. The codes live only in memory: after a reload they are gone, and
 * the page moves on to My details (new ones can be made on the Devices page).
 *
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export function render(root, ctx) {
  const codes = ctx.handoff.recoveryCodes;
  delete ctx.handoff.recoveryCodes;
  if (!codes) {
    ctx.navigate('details');
    return;
  }
  root.append(
    h(
      'section',
      { class: 'narrow' },
      pageTitle('Save your recovery codes'),
      h('p', { class: 'lead' }, 'Your account is ready.'),
      codesPanel(codes, () => ctx.navigate('details')),
    ),
  );
}
