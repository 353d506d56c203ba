import { api } from './api.js';

/**
 * The passkey ceremonies, each two calls to the vault around one browser prompt. The browser
 * half is @simplewebauthn/browser, served by the vault itself as a classic script that defines
 * the global `SimpleWebAuthnBrowser`.
 */

/** @returns {{ startRegistration: Function, startAuthentication: Function }} */
function webauthn() {
  const library = /** @type {any} */ (globalThis).SimpleWebAuthnBrowser;
  if (!library) throw new Error('The passkey helper did not load. Reload the page and try again.');
  return library;
}

/**
 * A default name for a passkey made on this device ("Passkey on Android"), so the Devices page
 * can tell passkeys apart even when the customer typed no name.
 */
function deviceName() {
  const agent = navigator.userAgent;
  const platforms = [
    ['iPhone', 'iPhone'],
    ['iPad', 'iPad'],
    ['Android', 'Android'],
    ['Mac OS', 'Mac'],
    ['Windows', 'Windows'],
    ['CrOS', 'Chromebook'],
    ['Linux', 'Linux'],
  ];
  const found = platforms.find(([marker]) => agent.includes(/** @type {string} */ (marker)));
  return found ? `Passkey on ${found[1]}` : 'Passkey';
}

/**
 * Plain words for what the browser's passkey prompt threw.
 *
 * @param {unknown} error
 * @returns {Error}
 */
function explain(error) {
  const name = /** @type {any} */ (error)?.name;
  const code = /** @type {any} */ (error)?.code;
  if (name === 'NotAllowedError' || code === 'ERROR_CEREMONY_ABORTED')
    return new Error('The passkey request was cancelled or timed out. Try again when ready.');
  if (code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED' || name === 'InvalidStateError')
    return new Error('This device already holds a passkey for this account.');
  if (name === 'SecurityError')
    return new Error('Passkeys do not work at this address. Open the vault at its own address.');
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Runs the browser prompt for options the vault issued.
 *
 * @param {'startRegistration' | 'startAuthentication'} step
 * @param {unknown} optionsJSON
 */
async function prompt(step, optionsJSON) {
  try {
    return await webauthn()[step]({ optionsJSON });
  } catch (error) {
    throw explain(error);
  }
}

/**
 * Creates an account with a new passkey. Resolves with the ten recovery codes, shown once.
 *
 * @param {string} name what the passkey is called (optional)
 * @returns {Promise<string[]>}
 */
export async function signUp(name) {
  const label = name.trim();
  const options = await api('POST', '/api/v1/auth/sign-up/options', {
    body: label ? { userName: label } : {},
  });
  const response = await prompt('startRegistration', options.data);
  const answer = await api('POST', '/api/v1/auth/sign-up/verify', {
    body: { response, passkeyName: label || deviceName() },
  });
  return answer.data.recoveryCodes;
}

/** Signs in with any passkey of this vault (usernameless: the authenticator picks). */
export async function signIn() {
  const options = await api('POST', '/api/v1/auth/sign-in/options', { body: {} });
  const response = await prompt('startAuthentication', options.data);
  await api('POST', '/api/v1/auth/sign-in/verify', { body: { response } });
}

/**
 * Signs in again as the signed-in customer, with one of their own passkeys, when the vault wants
 * to be sure it is them (a fresh session for the changes that could take an account over).
 */
export async function confirmIdentity() {
  const options = await api('POST', '/api/v1/auth/reauthenticate/options', { body: {} });
  const response = await prompt('startAuthentication', options.data);
  await api('POST', '/api/v1/auth/sign-in/verify', { body: { response } });
}

/**
 * Spends a recovery code on a new passkey for this device, and signs in with it.
 *
 * @param {string} code as typed: the vault ignores case, spaces and hyphens
 * @param {string} name what the passkey is called (optional)
 */
export async function recover(code, name) {
  const label = name.trim();
  const options = await api('POST', '/api/v1/auth/recover/options', {
    body: { code: code.trim(), ...(label ? { userName: label } : {}) },
  });
  const response = await prompt('startRegistration', options.data);
  await api('POST', '/api/v1/auth/recover/verify', {
    body: { response, passkeyName: label || deviceName() },
  });
}

/**
 * Adds a passkey on this device to the signed-in account.
 *
 * @param {string} name what the passkey is called (optional)
 */
export async function addPasskey(name) {
  const label = name.trim();
  const options = await api('POST', '/api/v1/passkeys/options', {
    body: label ? { userName: label } : {},
  });
  const response = await prompt('startRegistration', options.data);
  await api('POST', '/api/v1/passkeys/verify', {
    body: { response, passkeyName: label || deviceName() },
  });
}
