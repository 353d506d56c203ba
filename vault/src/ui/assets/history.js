import { api } from './api.js';
import { h } from './dom.js';
import { moment } from './format.js';

/**
 * The "History" toggle of a saved record: every version, newest first. Nothing is overwritten in
 * a vault, so this is the whole story of the record. One history is open at a time, which keeps
 * the page short on a phone.
 */

/** @type {(() => void) | null} */
let closeOpen = null;

/**
 * The values of a version's content, flattened into one line.
 *
 * @param {unknown} content
 * @returns {string}
 */
function summary(content) {
  if (content === null || content === undefined) return '';
  if (typeof content !== 'object') return String(content);
  return Object.values(content).map(summary).filter(Boolean).join(', ');
}

/**
 * @param {{ version: number, deleted: boolean, createdAt: string, content: unknown }} version
 */
function versionItem(version) {
  const what = version.deleted ? 'Deleted' : version.version === 1 ? 'Created' : 'Updated';
  return h(
    'li',
    {},
    h(
      'span',
      { class: 'meta' },
      `Version ${version.version} · ${what} ${moment(version.createdAt)}`,
    ),
    version.deleted ? null : h('span', { class: 'history-content' }, summary(version.content)),
  );
}

/**
 * A toggle button (data-testid `history-<path>`) and the panel it opens.
 *
 * @param {string} path
 * @param {(error: unknown) => void} showError
 * @returns {HTMLElement}
 */
export function historyToggle(path, showError) {
  const panel = h('div', { class: 'history', hidden: true });
  const button = h(
    'button',
    {
      type: 'button',
      class: 'link',
      testid: `history-${path}`,
      'aria-expanded': 'false',
    },
    'History',
  );
  const close = () => {
    panel.hidden = true;
    panel.replaceChildren();
    button.setAttribute('aria-expanded', 'false');
    if (closeOpen === close) closeOpen = null;
  };
  button.addEventListener('click', async () => {
    if (!panel.hidden) return close();
    closeOpen?.();
    closeOpen = close;
    button.setAttribute('aria-expanded', 'true');
    panel.hidden = false;
    panel.replaceChildren(h('p', { class: 'meta' }, 'Loading…'));
    try {
      const { data } = await api('GET', `/api/v1/records/${encodeURIComponent(path)}/versions`);
      if (panel.hidden) return;
      panel.replaceChildren(
        h('ol', { class: 'history-list', testid: 'history-list' }, data.versions.map(versionItem)),
      );
    } catch (error) {
      close();
      showError(error);
    }
  });
  return h('div', { class: 'history-toggle' }, button, panel);
}
