import { api } from './api.js';
import { h, pageTitle, uid } from './dom.js';
import { saveBlob, suggestedName } from './download.js';
import { moment, vendorHost } from './format.js';
import { knownVendors } from './vendors.js';
import { verifyExport } from './verify-log.js';
import { entryHeadline } from './words.js';

/**
 * Activity: the customer's audit log, newest first: every read, refusal, key and change. It can
 * be exported, and checked here, in this browser, against the vault's signature.
 */

const PAGE_SIZE = 50;

/**
 * One line of the log, in plain words: "Read by Acme Optics: Home address — Counter visit —
 * 14:02, 23 Nov".
 *
 * @param {any} entry
 */
function entryItem(entry) {
  const refused = entry.outcome === 'refused';
  // A deposit's purpose is the record's title, already in its headline.
  const purpose = entry.event.startsWith('deposit_') ? null : entry.purpose;
  const parts = [entryHeadline(entry), purpose, moment(entry.at)].filter(Boolean);
  return h(
    'li',
    {
      class: `entry entry-${entry.event.replaceAll('_', '-')}${refused ? ' refused' : ''}`,
      testid: 'activity-entry',
    },
    h('p', { class: 'entry-text' }, parts.join(' — ')),
    entry.vendor
      ? h('p', { class: 'meta' }, `${vendorHost(entry.vendor.id)} · receipt ${entry.id}`)
      : null,
  );
}

/**
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export async function render(root, ctx) {
  const vendorId = uid('vendor');
  const vendorSelect = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: vendorId, testid: 'activity-vendor' },
      h('option', { value: '' }, 'All vendors'),
    )
  );
  const timeline = h('ol', { class: 'timeline' });
  const empty = h('p', { class: 'card empty', hidden: true }, 'Nothing here yet.');
  const more = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'button', testid: 'load-more', hidden: true }, 'Load more')
  );
  const verifyResult = h('p', { class: 'verify-result', testid: 'verify-result', role: 'status' });

  /** Downloads the export in a format, through a Blob: no data in any URL. */
  const exporter = (/** @type {'json' | 'csv'} */ format) => async (/** @type {Event} */ event) => {
    const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
    button.disabled = true;
    ctx.clearError();
    try {
      const { data, headers } = await api('GET', `/api/v1/audit/export?format=${format}`, {
        blob: true,
      });
      saveBlob(data, suggestedName(headers, `webkey-audit.${format}`));
    } catch (error) {
      ctx.showError(error);
    } finally {
      button.disabled = false;
    }
  };

  const verify = async (/** @type {Event} */ event) => {
    const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
    button.disabled = true;
    verifyResult.className = 'verify-result';
    verifyResult.textContent = 'Checking…';
    try {
      const [exported, jwks] = await Promise.all([
        api('GET', '/api/v1/audit/export?format=json'),
        api('GET', '/.well-known/jwks.json'),
      ]);
      // The vault's live keys, and this page's own origin as the issuer: an export from another
      // vault, or signed by a key this vault does not publish, does not verify.
      const result = await verifyExport(exported.data, jwks.data, location.origin);
      verifyResult.classList.add(result.ok ? 'good' : 'bad');
      verifyResult.textContent = result.ok
        ? `Log verified: ${result.entries} entries, unaltered.`
        : `Not verified: ${result.firstBad.seq ? `entry ${result.firstBad.seq}` : 'the log'}: ${result.firstBad.reason}.`;
    } catch (error) {
      verifyResult.textContent = '';
      ctx.showError(error);
    } finally {
      button.disabled = false;
    }
  };

  root.append(
    h(
      'div',
      { class: 'page narrow' },
      pageTitle('Activity'),
      h(
        'p',
        { class: 'lead' },
        'Every read of your details, every refusal and every change, newest first.',
      ),
      h('div', { class: 'field toolbar' }, h('label', { for: vendorId }, 'Vendor'), vendorSelect),
      empty,
      timeline,
      h('div', { class: 'actions' }, more),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'export-heading' },
        h('h2', { id: 'export-heading' }, 'Export and check'),
        h(
          'p',
          {},
          'Download your whole log, or check here that nobody has altered it: each entry is ' +
            'chained to the one before, and the vault signs the end of the chain.',
        ),
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            { type: 'button', testid: 'export-json', onclick: exporter('json') },
            'Download (JSON)',
          ),
          h(
            'button',
            { type: 'button', testid: 'export-csv', onclick: exporter('csv') },
            'Download (spreadsheet)',
          ),
          h(
            'button',
            { type: 'button', class: 'primary', testid: 'verify-log', onclick: verify },
            'Check the log',
          ),
        ),
        verifyResult,
      ),
    ),
  );

  /** @type {number | null} */
  let nextBefore = null;

  /** Loads a page of entries; `reset` starts over (a new filter). */
  const load = async (/** @type {boolean} */ reset) => {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (!reset && nextBefore !== null) query.set('before', String(nextBefore));
    if (vendorSelect.value) query.set('vendor', vendorSelect.value);
    const { data } = await api('GET', `/api/v1/audit?${query}`, { signal: ctx.signal });
    const items = data.entries.map(entryItem);
    if (reset) timeline.replaceChildren(...items);
    else timeline.append(...items);
    nextBefore = data.nextBefore;
    more.hidden = nextBefore === null;
    empty.hidden = timeline.childElementCount > 0;
  };

  more.addEventListener('click', async () => {
    more.disabled = true;
    const first = timeline.childElementCount;
    try {
      await load(false);
      // Keep keyboard users where the new entries start.
      /** @type {HTMLElement | undefined} */ (timeline.children[first])?.setAttribute(
        'tabindex',
        '-1',
      );
      /** @type {HTMLElement | undefined} */ (timeline.children[first])?.focus();
    } catch (error) {
      ctx.showError(error);
    } finally {
      more.disabled = false;
    }
  });
  vendorSelect.addEventListener('change', () => load(true).catch(ctx.showError));

  const [vendors] = await Promise.all([knownVendors(ctx.signal), load(true)]);
  vendorSelect.append(
    ...[...vendors].map(([id, name]) => h('option', { value: id }, `${name} (${vendorHost(id)})`)),
  );
}
