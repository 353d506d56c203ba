import { api } from './api.js';
import { h, pageTitle } from './dom.js';
import { day, moment, vendorHost } from './format.js';
import { kindListWords, kindWord, scopeListWords } from './words.js';

/**
 * Shops: the records shops filed for the customer (an inbox to accept or discard, and the
 * accepted documents), and each shop that knows them with its standing grants: what it can
 * still read, what it may file, until when, and a revoke button.
 */

/**
 * A calendar date ("2026-11-23") as a day, without a time zone shifting it.
 *
 * @param {string} date
 */
function calendarDay(date) {
  const [year, month, dayOfMonth] = date.split('-').map(Number);
  if (!year || !month || !dayOfMonth) return date;
  return day(new Date(year, month - 1, dayOfMonth));
}

/**
 * An amount in its currency ("$80.00"), or the plain amount when the browser does not know it.
 *
 * @param {{ amount: string, currency: string }} total
 */
function money(total) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: total.currency }).format(
      Number(total.amount),
    );
  } catch {
    return `${total.amount} ${total.currency}`;
  }
}

/**
 * What a deposited record says, for the inbox and the documents: title, who filed it, when it
 * was issued, its lines and total.
 *
 * @param {any} deposit
 */
function depositMain(deposit) {
  const content = deposit.content ?? {};
  const kind = kindWord(deposit.kind);
  const facts = [
    `${kind.charAt(0).toUpperCase()}${kind.slice(1)} from ${deposit.vendor.name}`,
    deposit.version > 1 ? `Version ${deposit.version}` : null,
  ].filter(Boolean);
  const meta = [
    content.issuedOn ? `Issued ${calendarDay(content.issuedOn)}` : null,
    content.total ? `Total ${money(content.total)}` : null,
    `Ref ${deposit.ref}`,
  ].filter(Boolean);
  /** @type {{ description: string, quantity?: string, amount?: string }[]} */
  const lines = Array.isArray(content.lines) ? content.lines : [];
  return h(
    'div',
    { class: 'row-main' },
    h('p', { class: 'row-title' }, content.title ?? deposit.ref),
    h('p', {}, facts.join(' · ')),
    lines.length > 0
      ? h(
          'ul',
          { class: 'deposit-lines' },
          lines.map((line) =>
            h(
              'li',
              {},
              [line.quantity ? `${line.quantity} × ` : '', line.description].join(''),
              line.amount && content.total
                ? ` — ${money({ amount: line.amount, currency: content.total.currency })}`
                : line.amount
                  ? ` — ${line.amount}`
                  : null,
            ),
          ),
        )
      : null,
    h(
      'p',
      { class: 'meta' },
      meta.flatMap((fact, index) => [
        index > 0 ? ' · ' : null,
        h('span', { class: 'nowrap' }, /** @type {string} */ (fact)),
      ]),
    ),
  );
}

/** @param {any} grant */
function grantStatusWords(grant) {
  if (grant.status === 'revoked') return `Revoked ${moment(grant.revokedAt)}`;
  if (grant.status === 'expired') return `Ended ${day(grant.expiresAt)}`;
  return `Active until ${day(grant.expiresAt)}`;
}

/**
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export async function render(root, ctx) {
  const inbox = h('ul', { class: 'rows', testid: 'inbox' });
  const inboxEmpty = h(
    'p',
    { class: 'empty', hidden: true },
    'Nothing waiting. When a shop files a receipt or another record for you, it appears here first.',
  );
  const inboxHint = h(
    'p',
    { class: 'hint', hidden: true },
    'Records shops filed for you. Accept one to keep it in your documents, or discard it.',
  );
  const shops = h('div', { testid: 'vendors' });
  const shopsEmpty = h(
    'p',
    { class: 'card empty', hidden: true },
    'No shop has read your details yet. Hand over a key at a counter to start.',
  );
  const documents = h('ul', { class: 'rows', testid: 'documents' });
  const documentsEmpty = h(
    'p',
    { class: 'empty', hidden: true },
    'Records you accept from your inbox are kept here.',
  );

  root.append(
    h(
      'div',
      { class: 'page narrow' },
      pageTitle('Shops'),
      h(
        'p',
        { class: 'lead' },
        'The shops that know you, what they can still read, and the records they filed for you.',
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'inbox-heading' },
        h('h2', { id: 'inbox-heading' }, 'Inbox'),
        inboxHint,
        inboxEmpty,
        inbox,
      ),
      h(
        'section',
        { class: 'section', 'aria-labelledby': 'shops-heading' },
        h('h2', { id: 'shops-heading' }, 'Shops that know you'),
        shopsEmpty,
        shops,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'documents-heading' },
        h('h2', { id: 'documents-heading' }, 'Documents'),
        documentsEmpty,
        documents,
      ),
    ),
  );

  /**
   * Accepts or discards one deposit, then reloads the inbox and the documents.
   *
   * @param {any} deposit
   * @param {'accept' | 'discard'} decision
   */
  const decide = (deposit, decision) => async (/** @type {Event} */ event) => {
    const row = /** @type {HTMLElement} */ (event.currentTarget).closest('li');
    for (const button of row?.querySelectorAll('button') ?? []) button.disabled = true;
    ctx.clearError();
    const title = deposit.content?.title ?? deposit.ref;
    try {
      await api('POST', `/api/v1/inbox/${encodeURIComponent(deposit.id)}/${decision}`, {
        body: {},
      });
      row?.remove();
      ctx.announce(
        decision === 'accept' ? `${title} kept in your documents.` : `${title} discarded.`,
      );
      await loadDeposits();
    } catch (error) {
      for (const button of row?.querySelectorAll('button') ?? []) button.disabled = false;
      ctx.showError(error);
      await loadDeposits().catch(() => {});
    }
  };

  /** @param {any} deposit */
  const inboxRow = (deposit) =>
    h(
      'li',
      { class: 'row-card', testid: 'inbox-row' },
      depositMain(deposit),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'primary',
            testid: 'accept-deposit',
            'aria-label': `Accept ${deposit.content?.title ?? deposit.ref}`,
            onclick: decide(deposit, 'accept'),
          },
          'Accept',
        ),
        h(
          'button',
          {
            type: 'button',
            testid: 'discard-deposit',
            'aria-label': `Discard ${deposit.content?.title ?? deposit.ref}`,
            onclick: decide(deposit, 'discard'),
          },
          'Discard',
        ),
      ),
    );

  /** @param {any} deposit */
  const documentRow = (deposit) =>
    h('li', { class: 'row-card', testid: 'document-row' }, depositMain(deposit));

  const loadDeposits = async () => {
    const [pending, accepted] = await Promise.all([
      api('GET', '/api/v1/inbox', { signal: ctx.signal }),
      api('GET', '/api/v1/documents', { signal: ctx.signal }),
    ]);
    inbox.replaceChildren(...pending.data.deposits.map(inboxRow));
    inboxEmpty.hidden = pending.data.deposits.length > 0;
    inboxHint.hidden = !inboxEmpty.hidden;
    documents.replaceChildren(...accepted.data.deposits.map(documentRow));
    documentsEmpty.hidden = accepted.data.deposits.length > 0;
  };

  /**
   * What the shop was told about changes under this grant, in plain words.
   * @param {any} grant
   */
  const deliveryWords = (grant) => {
    const deliveries = grant.deliveries;
    if (!grant.notifies) return 'Not told of changes: this shop reads again when it needs to';
    if (!deliveries || deliveries.delivered + deliveries.pending + deliveries.dropped === 0) {
      return 'Told of changes: not yet (the shop is told when these details change)';
    }
    const parts = [
      `Told of changes: ${deliveries.delivered} time${deliveries.delivered === 1 ? '' : 's'}`,
    ];
    if (deliveries.lastDeliveredAt) parts.push(`last ${moment(deliveries.lastDeliveredAt)}`);
    if (deliveries.pending > 0) parts.push(`${deliveries.pending} waiting`);
    if (deliveries.dropped > 0) parts.push(`${deliveries.dropped} not delivered`);
    return parts.join(' · ');
  };

  /** @param {any} grant */
  const grantRow = (grant) => {
    const active = grant.status === 'active';
    return h(
      'li',
      { class: `row-card${active ? '' : ' inactive'}`, testid: 'grant-row' },
      h(
        'div',
        { class: 'row-main' },
        h('p', { class: 'row-title' }, `Can read: ${scopeListWords(grant.scope)}`),
        h(
          'p',
          {},
          grant.writes.length > 0
            ? `May file: ${kindListWords(grant.writes)}`
            : 'May not file anything in your vault',
        ),
        h(
          'p',
          { class: 'meta' },
          h('span', { testid: 'grant-status' }, grantStatusWords(grant)),
          ` · ${grant.lastReadAt ? `Last read again ${moment(grant.lastReadAt)}` : 'Not read again yet'}`,
        ),
        h('p', { class: 'meta', testid: 'grant-deliveries' }, deliveryWords(grant)),
      ),
      active
        ? h(
            'button',
            {
              type: 'button',
              testid: 'revoke-grant',
              'aria-label': `Stop ${grant.vendor.name} reading ${scopeListWords(grant.scope)}`,
              onclick: async (/** @type {Event} */ event) => {
                const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
                button.disabled = true;
                ctx.clearError();
                try {
                  await api('DELETE', `/api/v1/grants/${encodeURIComponent(grant.id)}`);
                  ctx.announce(`${grant.vendor.name} can no longer read your details.`);
                  await loadShops();
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

  const loadShops = async () => {
    const [known, granted] = await Promise.all([
      api('GET', '/api/v1/vendors', { signal: ctx.signal }),
      api('GET', '/api/v1/grants?all=true', { signal: ctx.signal }),
    ]);
    /** @type {any[]} */
    const vendors = [...known.data.vendors];
    /** @type {any[]} */
    const grants = granted.data.grants;
    // A grant always follows a read, but list its vendor even if the log says otherwise.
    for (const grant of grants) {
      if (!vendors.some((vendor) => vendor.id === grant.vendor.id))
        vendors.push({ id: grant.vendor.id, name: grant.vendor.name });
    }
    const rank = (/** @type {any} */ grant) => (grant.status === 'active' ? 0 : 1);
    shops.replaceChildren(
      ...vendors.map((vendor) => {
        const own = grants
          .filter((grant) => grant.vendor.id === vendor.id)
          .sort((a, b) => rank(a) - rank(b) || (a.createdAt < b.createdAt ? 1 : -1));
        const facts = [
          vendorHost(vendor.id),
          vendor.firstReadAt ? `Knows you since ${day(vendor.firstReadAt)}` : null,
          vendor.lastReadAt ? `Last read ${moment(vendor.lastReadAt)}` : null,
          vendor.reads ? `${vendor.reads} ${vendor.reads === 1 ? 'read' : 'reads'}` : null,
        ].filter(Boolean);
        return h(
          'article',
          { class: 'card vendor', testid: 'vendor-row' },
          h('h3', { class: 'vendor-name' }, vendor.name),
          h('p', { class: 'meta' }, facts.join(' · ')),
          own.length > 0
            ? h('ul', { class: 'rows' }, own.map(grantRow))
            : h('p', { class: 'empty' }, 'No standing access: it read only the keys you showed.'),
        );
      }),
    );
    shopsEmpty.hidden = vendors.length > 0;
  };

  await Promise.all([loadDeposits(), loadShops()]);
}
