/**
 * A tiny element builder. Text is always added as text nodes, never parsed as HTML: vendor names
 * and record contents come from other people and must not become markup.
 */

/**
 * @typedef {Record<string, unknown>} Props
 * `class`, `testid` (becomes data-testid), `on<event>` (a listener), `value`/`checked` (set as
 * properties after the children, so a <select> can pick one of its options); anything else is
 * an attribute (true: present, false/null/undefined: left out).
 */

/**
 * Creates an element.
 *
 * @param {string} tag
 * @param {Props} [props]
 * @param {...(Node | string | number | null | undefined | false | Array<Node | string | null | undefined | false>)} children
 * @returns {HTMLElement}
 * @example
 * h('button', { type: 'button', testid: 'sign-in', onclick: signIn }, 'Sign in with a passkey')
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  const late = [];
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') element.className = String(value);
    else if (name === 'testid') element.dataset.testid = String(value);
    else if (name.startsWith('on') && typeof value === 'function')
      element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else if (name === 'value' || name === 'checked') late.push([name, value]);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
  for (const [name, value] of late) /** @type {any} */ (element)[name] = value;
  return element;
}

let counter = 0;

/**
 * A document-unique id, for label/aria pairs.
 *
 * @param {string} stem
 * @example uid('field') // 'field-3'
 */
export function uid(stem) {
  counter += 1;
  return `${stem}-${counter}`;
}

/**
 * The page heading every page starts with; focusable so the router can move focus to it after
 * a page change (screen readers then announce the new page).
 *
 * @param {string} text
 */
export function pageTitle(text) {
  return h('h1', { tabindex: '-1', class: 'page-title' }, text);
}

/**
 * Marks a button busy while `work` runs, so a second tap cannot start a second ceremony.
 *
 * @template T
 * @param {HTMLButtonElement} button
 * @param {() => Promise<T>} work
 * @returns {Promise<T>}
 */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}
