import { h } from './dom.js';
import { confirmIdentity } from './passkeys.js';

/**
 * Asks the customer to confirm it is them, in a dialog: the passkey prompt starts from their
 * click on "Confirm with passkey", as browsers want for WebAuthn (some refuse a prompt that no
 * click started). Resolves once confirmed; rejects when they cancel or the passkey fails, and the
 * call that needed it then fails with that message.
 *
 * @returns {Promise<void>}
 * @example
 * whenConfirmationNeeded(askToConfirm);
 */
export function askToConfirm() {
  return new Promise((resolve, reject) => {
    const status = h('p', { role: 'status' });
    const confirm = /** @type {HTMLButtonElement} */ (
      h(
        'button',
        { type: 'button', class: 'primary', testid: 'confirm-identity' },
        'Confirm with passkey',
      )
    );
    const cancel = h('button', { type: 'button', testid: 'confirm-cancel' }, 'Cancel');
    const dialog = /** @type {HTMLDialogElement} */ (
      h(
        'dialog',
        { 'aria-labelledby': 'confirm-title', testid: 'confirm-dialog' },
        h('h2', { id: 'confirm-title', class: 'dialog-title' }, 'Confirm it is you'),
        h(
          'p',
          {},
          'This change keeps working after you sign out, so the vault asks for your passkey again.',
        ),
        status,
        h('div', { class: 'actions' }, confirm, cancel),
      )
    );
    const close = () => {
      dialog.close();
      dialog.remove();
    };
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      status.textContent = '';
      try {
        await confirmIdentity();
        close();
        resolve();
      } catch (error) {
        confirm.disabled = false;
        status.textContent = error instanceof Error ? error.message : String(error);
      }
    });
    const cancelled = () => {
      close();
      reject(new Error('Not changed: you did not confirm with your passkey.'));
    };
    cancel.addEventListener('click', cancelled);
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      cancelled();
    });
    document.body.append(dialog);
    dialog.showModal();
    confirm.focus();
  });
}
