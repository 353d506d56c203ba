import { api, errorMessage, ProblemError, whenConfirmationNeeded, whenSignedOut } from './api.js';
import { askToConfirm } from './confirm-identity.js';

/**
 * The app shell: session check, hash router and the shared error and announcement regions.
 * Routes are hash fragments with no data in them (#/details), so nothing about the customer
 * ever appears in a URL a server, proxy or history could keep.
 */

/**
 * What every page gets.
 *
 * @typedef {object} PageContext
 * @property {AbortSignal} signal aborted when the page changes: stop polling, ignore late answers
 * @property {(route: string) => void} navigate go to a route ('details', 'welcome', ...)
 * @property {(error: unknown) => void} showError show an error in the alert region
 * @property {() => void} clearError
 * @property {(message: string) => void} announce tell screen readers about a change
 * @property {(signedIn: boolean) => void} setSignedIn
 * @property {{ recoveryCodes?: string[], notice?: string }} handoff what one page leaves for the next, in memory only
 */

/** @type {Record<string, () => Promise<{ render: (root: HTMLElement, ctx: PageContext) => unknown }>>} */
const PAGES = {
  welcome: () => import('./welcome.js'),
  'recovery-codes': () => import('./recovery-codes.js'),
  details: () => import('./details.js'),
  handover: () => import('./handover.js'),
  keys: () => import('./keys.js'),
  relationships: () => import('./relationships.js'),
  activity: () => import('./activity.js'),
  devices: () => import('./devices.js'),
};

const HOME = 'details';

const state = {
  signedIn: false,
  /** @type {AbortController | null} */
  page: null,
  /** @type {PageContext['handoff']} */
  handoff: {},
};

const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {unknown} error */
function showError(error) {
  const region = byId('error');
  region.textContent = errorMessage(error);
  region.hidden = false;
}

function clearError() {
  const region = byId('error');
  region.textContent = '';
  region.hidden = true;
}

/** @param {string} message */
function announce(message) {
  const region = byId('announcer');
  // Clear first, so the same message twice is announced twice.
  region.textContent = '';
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

/** @param {boolean} signedIn */
function setSignedIn(signedIn) {
  state.signedIn = signedIn;
  byId('nav').hidden = !signedIn;
  byId('sign-out').hidden = !signedIn;
}

/** @param {string} route */
function navigate(route) {
  if (location.hash === `#/${route}`) void route_();
  else location.hash = `#/${route}`;
}

/** The route in the address bar, or the right default for the session state. */
function currentRoute() {
  const route = location.hash.replace(/^#\/?/, '');
  if (!state.signedIn) return 'welcome';
  if (route === 'welcome' || !(route in PAGES)) return HOME;
  return route;
}

/** @param {string} route */
function markNav(route) {
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#/${route}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function route_() {
  const route = currentRoute();
  if (location.hash !== `#/${route}`) history.replaceState(null, '', `#/${route}`);
  state.page?.abort();
  const controller = new AbortController();
  state.page = controller;
  clearError();
  markNav(route);
  const root = byId('page');
  try {
    const page = await /** @type {NonNullable<typeof PAGES[string]>} */ (PAGES[route])();
    if (controller.signal.aborted) return;
    root.replaceChildren();
    document.title = 'Webkey';
    /** @type {PageContext} */
    const ctx = {
      signal: controller.signal,
      navigate,
      showError,
      clearError,
      announce,
      setSignedIn,
      handoff: state.handoff,
    };
    const rendering = page.render(root, ctx);
    focusHeading(root);
    await rendering;
  } catch (error) {
    if (!controller.signal.aborted) showError(error);
  }
}

/** Moves focus to the new page's heading, unless the customer already moved it themselves. */
function focusHeading(/** @type {HTMLElement} */ root) {
  const heading = root.querySelector('h1');
  if (!heading) return;
  document.title = `${heading.textContent} · Webkey`;
  const active = document.activeElement;
  if (!active || active === document.body || !root.contains(active)) heading.focus();
}

async function signOut() {
  try {
    await api('POST', '/api/v1/auth/sign-out');
  } catch (error) {
    // 401: the session had ended already. Anything else (the vault unreachable, a 503): the
    // session may still be live, and its cookie (HttpOnly) stays in this browser. Saying
    // "signed out" then would leave the account open to the next person at this computer.
    if (!(error instanceof ProblemError && error.status === 401)) {
      showError(new Error(`Could not sign out: ${errorMessage(error)} You are still signed in.`));
      return;
    }
  }
  clearError();
  setSignedIn(false);
  navigate('welcome');
  announce('Signed out.');
}

async function start() {
  whenConfirmationNeeded(askToConfirm);
  whenSignedOut(() => {
    if (!state.signedIn) return;
    setSignedIn(false);
    state.handoff.notice = 'You were signed out. Sign in again to continue.';
    navigate('welcome');
  });
  try {
    await api('GET', '/api/v1/auth/session');
    setSignedIn(true);
  } catch {
    setSignedIn(false);
  }
  byId('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => void route_());
  await route_();
}

void start();
