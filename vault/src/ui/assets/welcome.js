import { busy, h, pageTitle, uid } from './dom.js';
import { recover, signIn, signUp } from './passkeys.js';

/**
 * The signed-out page: sign in, create an account, or recover with a code. Passkeys only: there
 * is no password to type, and the name is optional (it only labels the passkey).
 */

/**
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export function render(root, ctx) {
  const notice = ctx.handoff.notice;
  delete ctx.handoff.notice;

  /** Runs one ceremony from a button; a success enters the app at `route`. */
  const ceremony =
    (/** @type {() => Promise<void>} */ work) => async (/** @type {Event} */ event) => {
      event.preventDefault();
      const button = /** @type {HTMLButtonElement} */ (
        event.type === 'submit'
          ? /** @type {HTMLFormElement} */ (event.target).querySelector('button[type=submit]')
          : event.currentTarget
      );
      ctx.clearError();
      try {
        await busy(button, work);
      } catch (error) {
        ctx.showError(error);
      }
    };

  const nameId = uid('user-name');
  const nameHint = uid('hint');
  const name = /** @type {HTMLInputElement} */ (
    h('input', {
      id: nameId,
      testid: 'user-name',
      type: 'text',
      autocomplete: 'nickname',
      maxlength: '64',
      'aria-describedby': nameHint,
    })
  );

  const codeId = uid('recovery-code');
  const code = /** @type {HTMLInputElement} */ (
    h('input', {
      id: codeId,
      testid: 'recovery-code',
      type: 'text',
      autocomplete: 'off',
      autocapitalize: 'characters',
      spellcheck: 'false',
      maxlength: '64',
      required: true,
      class: 'mono',
    })
  );
  const recoverFormId = uid('recover-form');
  const recoverForm = h(
    'form',
    {
      id: recoverFormId,
      class: 'stack',
      hidden: true,
      onsubmit: ceremony(async () => {
        await recover(code.value, '');
        ctx.setSignedIn(true);
        ctx.handoff.notice =
          'You are signed in with a new passkey. If you lost a device, remove its passkey below.';
        ctx.navigate('devices');
      }),
    },
    h('label', { for: codeId }, 'Recovery code'),
    code,
    h('p', { class: 'hint' }, 'One of the ten codes you saved when you created your account.'),
    h('button', { type: 'submit', testid: 'recover-submit' }, 'Add a passkey with this code'),
  );
  const recoverToggle = h(
    'button',
    {
      type: 'button',
      class: 'link',
      testid: 'recover',
      'aria-expanded': 'false',
      'aria-controls': recoverFormId,
      onclick: () => {
        recoverForm.hidden = !recoverForm.hidden;
        recoverToggle.setAttribute('aria-expanded', String(!recoverForm.hidden));
        if (!recoverForm.hidden) code.focus();
      },
    },
    'Lost your passkey? Use a recovery code',
  );

  root.append(
    h(
      'div',
      { class: 'welcome' },
      pageTitle('Your details, handed over on your terms'),
      h(
        'p',
        { class: 'lead' },
        'Keep your address, insurance and other details in your own vault. At a counter, show a ' +
          'short-lived key instead of filling in a form. Every read appears in your activity.',
      ),
      notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'welcome-back' },
        h('h2', { id: 'welcome-back' }, 'Welcome back'),
        h(
          'button',
          {
            type: 'button',
            class: 'primary wide',
            testid: 'sign-in',
            onclick: ceremony(async () => {
              await signIn();
              ctx.setSignedIn(true);
              ctx.navigate('details');
            }),
          },
          'Sign in with a passkey',
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'new-here' },
        h('h2', { id: 'new-here' }, 'New here?'),
        h(
          'form',
          {
            class: 'stack',
            onsubmit: ceremony(async () => {
              ctx.handoff.recoveryCodes = await signUp(name.value);
              ctx.setSignedIn(true);
              ctx.navigate('recovery-codes');
            }),
          },
          h('label', { for: nameId }, 'Name for your passkey'),
          name,
          h(
            'p',
            { class: 'hint', id: nameHint },
            'Optional. Your device shows it when you choose a passkey, for example your first name.',
          ),
          h('button', { type: 'submit', testid: 'sign-up' }, 'Create an account with a passkey'),
        ),
      ),
      h('section', { class: 'recover' }, recoverToggle, recoverForm),
    ),
  );
}
