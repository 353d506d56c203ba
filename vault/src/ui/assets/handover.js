import { api, ProblemError } from './api.js';
import { h, pageTitle, uid } from './dom.js';
import { vendorHost } from './format.js';
import { keyDisplay } from './key-display.js';
import { knownVendors } from './vendors.js';
import { DEPOSIT_KINDS, kindListWords, scopeWords } from './words.js';

/**
 * Hand over: pick what the clerk may read, in plain words, and show a web key for it. The
 * defaults (one use, ten minutes, any vendor) make the common case a few taps.
 */

const LIFETIMES = [
  ['120', '2 minutes'],
  ['300', '5 minutes'],
  ['600', '10 minutes'],
  ['1800', '30 minutes'],
  ['3600', '60 minutes'],
  ['86400', '24 hours'],
];

/** How long a standing grant lasts. */
const GRANT_DAYS = [
  ['30', '30 days'],
  ['90', '90 days'],
  ['365', 'A year'],
];

/** Claims that prove an age without the birth date; a key takes one of them at most. */
const AGE_CLAIMS = ['profile.age_over_18', 'profile.age_over_21'];

/** Category order on the page: who you are first, then where, then the rest. */
const ORDER = ['profile', 'contact', 'address', 'insurance', 'prescription', 'identity_document'];

/**
 * A labelled field with an error slot.
 *
 * @param {string} text
 * @param {HTMLElement} input
 * @param {string} [hint]
 */
function field(text, input, hint) {
  const id = input.id;
  const error = h('p', { class: 'field-error', id: `${id}-error` });
  const hintId = hint ? `${id}-hint` : null;
  input.setAttribute('aria-describedby', [hintId, `${id}-error`].filter(Boolean).join(' '));
  return {
    error,
    wrapper: h(
      'div',
      { class: 'field' },
      h('label', { for: id }, text),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
      input,
      error,
    ),
  };
}

/**
 * @param {{ path: string, category: string, content: any }[]} records
 * @returns {{ item: string, words: string, disabledWhy?: string }[]}
 */
function shareable(records) {
  const rank = (/** @type {string} */ category) => {
    const index = ORDER.indexOf(category);
    return index === -1 ? ORDER.length : index;
  };
  const sorted = [...records].sort(
    (a, b) => rank(a.category) - rank(b.category) || a.path.localeCompare(b.path),
  );
  /** @type {{ item: string, words: string, disabledWhy?: string }[]} */
  const items = [];
  for (const record of sorted) {
    items.push({ item: record.path, words: scopeWords(record.path) });
    if (record.path !== 'profile') continue;
    const why = record.content?.birthDate
      ? undefined
      : 'Add your birth date under My details to prove your age.';
    for (const claim of AGE_CLAIMS) {
      items.push({ item: claim, words: scopeWords(claim), ...(why ? { disabledWhy: why } : {}) });
    }
  }
  return items;
}

/**
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export async function render(root, ctx) {
  const body = h('div', {}, h('p', { class: 'loading' }, 'Loading…'));
  root.append(
    h(
      'div',
      { class: 'page narrow' },
      pageTitle('Hand over'),
      h(
        'p',
        { class: 'lead' },
        'Choose what the clerk may read, then show the key. It works for a short time, and ' +
          'every read appears in your activity.',
      ),
      body,
    ),
  );
  const [{ data }, vendors] = await Promise.all([
    api('GET', '/api/v1/records', { signal: ctx.signal }),
    knownVendors(ctx.signal),
  ]);

  const items = shareable(data.records);
  if (items.length === 0) {
    body.replaceChildren(
      h(
        'p',
        { class: 'card' },
        'There is nothing to hand over yet. ',
        h('a', { href: '#/details' }, 'Add your details'),
        ' first.',
      ),
    );
    return;
  }

  const checks = items.map(({ item, words, disabledWhy }) => {
    const id = uid('share');
    const hintId = disabledWhy ? `${id}-hint` : null;
    const box = /** @type {HTMLInputElement} */ (
      h('input', {
        type: 'checkbox',
        id,
        value: item,
        testid: `share-${item}`,
        disabled: Boolean(disabledWhy),
        'aria-describedby': hintId,
      })
    );
    if (AGE_CLAIMS.includes(item)) {
      // One age threshold per key: two together would bracket the age itself.
      box.addEventListener('change', () => {
        if (!box.checked) return;
        for (const other of checks) {
          if (other.box !== box && AGE_CLAIMS.includes(other.box.value)) other.box.checked = false;
        }
      });
    }
    return {
      box,
      element: h(
        'div',
        { class: 'check' },
        box,
        h('label', { for: id }, words),
        disabledWhy ? h('p', { class: 'hint', id: hintId }, disabledWhy) : null,
      ),
    };
  });

  const purpose = /** @type {HTMLInputElement} */ (
    h('input', {
      id: uid('purpose'),
      type: 'text',
      testid: 'handover-purpose',
      maxlength: '200',
      value: 'Counter visit',
      autocomplete: 'off',
    })
  );
  const audience = /** @type {HTMLSelectElement} */ (
    h('select', { id: uid('audience'), testid: 'handover-audience' })
  );
  const custom = /** @type {HTMLInputElement} */ (
    h('input', {
      id: uid('audience-custom'),
      type: 'url',
      testid: 'handover-audience-custom',
      autocomplete: 'off',
      spellcheck: 'false',
      inputmode: 'url',
    })
  );
  const lifetime = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: uid('lifetime'), testid: 'handover-lifetime', value: '600' },
      LIFETIMES.map(([value, words]) => h('option', { value }, words)),
    )
  );
  const uses = /** @type {HTMLInputElement} */ (
    h('input', {
      id: uid('uses'),
      type: 'number',
      testid: 'handover-uses',
      min: '1',
      max: '100',
      step: '1',
      value: '1',
      inputmode: 'numeric',
    })
  );

  const standingId = uid('standing');
  const standing = /** @type {HTMLInputElement} */ (
    h('input', { type: 'checkbox', id: standingId, testid: 'handover-standing' })
  );
  const grantDays = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: uid('grant-days'), testid: 'handover-grant-days', value: '90' },
      GRANT_DAYS.map(([value, words]) => h('option', { value }, words)),
    )
  );
  const writes = DEPOSIT_KINDS.map((kind) => {
    const id = uid('write');
    const box = /** @type {HTMLInputElement} */ (
      h('input', { type: 'checkbox', id, value: kind, testid: `handover-write-${kind}` })
    );
    return {
      box,
      element: h('div', { class: 'check' }, box, h('label', { for: id }, kindListWords([kind]))),
    };
  });
  const grantDaysField = field('For how long', grantDays);
  const standingOptions = h(
    'div',
    { class: 'standing-options stack', hidden: true, testid: 'handover-standing-options' },
    grantDaysField.wrapper,
    h(
      'fieldset',
      { class: 'checks' },
      h('legend', { class: 'legend-small' }, 'What the shop may file in your vault'),
      h(
        'p',
        { class: 'hint' },
        'Each one waits in your inbox under Shops until you accept or discard it.',
      ),
      writes.map(({ element }) => element),
    ),
  );
  standing.addEventListener('change', () => {
    standingOptions.hidden = !standing.checked;
  });

  const purposeField = field('Why you are handing it over', purpose);
  const audienceField = field('Who may read it', audience);
  const customField = field(
    'Or only this vendor (their vendor id)',
    custom,
    'The address of the vendor’s Webkey document, if they gave you one. Leave empty otherwise.',
  );
  const lifetimeField = field('How long it works', lifetime);
  const usesField = field('How many reads', uses);
  const scopeError = h('p', { class: 'field-error', id: uid('scope-error') });

  /** @type {Record<string, { error: HTMLElement, input: HTMLElement }>} */
  const byPointer = {
    '/purpose': { error: purposeField.error, input: purpose },
    '/audience': { error: customField.error, input: custom },
    '/lifetimeSeconds': { error: lifetimeField.error, input: lifetime },
    '/uses': { error: usesField.error, input: uses },
    '/grantDays': { error: grantDaysField.error, input: grantDays },
  };

  const keySlot = h('div', {});
  const create = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'submit', class: 'primary big', testid: 'create-key' }, 'Show key')
  );

  const clearErrors = () => {
    for (const { error, input } of Object.values(byPointer)) {
      error.textContent = '';
      input.removeAttribute('aria-invalid');
    }
    scopeError.textContent = '';
  };

  /** @type {AbortController | null} */
  let current = null;

  /** Fills the audience choices: any vendor, or one the customer has dealt with. */
  const fillAudience = (/** @type {Map<string, string>} */ known) => {
    const chosen = audience.value;
    audience.replaceChildren(
      h('option', { value: '' }, 'Any vendor'),
      ...[...known].map(([id, name]) => h('option', { value: id }, `${name} (${vendorHost(id)})`)),
    );
    audience.value = known.has(chosen) ? chosen : '';
  };

  const showForm = () => {
    current?.abort();
    current = null;
    keySlot.replaceChildren();
    // Nothing is shared by default: each key starts from an empty choice.
    for (const { box } of checks) box.checked = false;
    standing.checked = false;
    standingOptions.hidden = true;
    for (const { box } of writes) box.checked = false;
    form.hidden = false;
    create.focus();
    // The key just shown may have been read by a new vendor: offer it next time.
    knownVendors(ctx.signal).then(fillAudience, () => {});
  };
  fillAudience(vendors);

  const issue = async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    ctx.clearError();
    clearErrors();
    const scope = checks.filter(({ box }) => box.checked).map(({ box }) => box.value);
    if (scope.length === 0) {
      scopeError.textContent = 'Choose at least one thing to hand over.';
      checks.find(({ box }) => !box.disabled)?.box.focus();
      return;
    }
    const count = Number(uses.value);
    if (!Number.isInteger(count) || count < 1 || count > 100) {
      usesField.error.textContent = 'A whole number from 1 to 100.';
      uses.setAttribute('aria-invalid', 'true');
      uses.focus();
      return;
    }
    const body = {
      scope,
      purpose: purpose.value.trim() || 'Counter visit',
      audience: custom.value.trim() || audience.value || null,
      lifetimeSeconds: Number(lifetime.value),
      uses: count,
      ...(standing.checked
        ? {
            grantDays: Number(grantDays.value),
            grantWrites: writes.filter(({ box }) => box.checked).map(({ box }) => box.value),
          }
        : {}),
    };
    create.disabled = true;
    try {
      const { data: issued } = await api('POST', '/api/v1/webkeys', { body });
      if (ctx.signal.aborted) return;
      current = new AbortController();
      const stop = current;
      ctx.signal.addEventListener('abort', () => stop.abort());
      form.hidden = true;
      const display = keyDisplay(issued, {
        signal: stop.signal,
        showError: ctx.showError,
        onDone: showForm,
      });
      keySlot.replaceChildren(display);
      const heading = display.querySelector('h2');
      heading?.setAttribute('tabindex', '-1');
      heading?.focus({ preventScroll: true });
      // The whole key, status included, on screen at once: the clerk scans, the customer watches.
      display.scrollIntoView({ block: 'start' });
    } catch (error) {
      let placed = false;
      if (error instanceof ProblemError) {
        for (const { pointer, message } of error.problem.errors ?? []) {
          const target = byPointer[pointer];
          if (!target) continue;
          target.error.textContent = message;
          target.input.setAttribute('aria-invalid', 'true');
          placed = true;
        }
      }
      ctx.showError(placed ? 'Some choices need a fix. See the messages next to them.' : error);
    } finally {
      create.disabled = false;
    }
  };

  const form = h(
    'form',
    { class: 'card stack', novalidate: true, onsubmit: issue },
    h(
      'fieldset',
      { class: 'checks', 'aria-describedby': scopeError.id },
      h('legend', {}, 'What to share'),
      checks.map(({ element }) => element),
      scopeError,
    ),
    purposeField.wrapper,
    audienceField.wrapper,
    customField.wrapper,
    h('div', { class: 'row' }, lifetimeField.wrapper, usesField.wrapper),
    h(
      'div',
      { class: 'standing' },
      h(
        'div',
        { class: 'check' },
        standing,
        h('label', { for: standingId }, 'Keep this shop up to date'),
        h(
          'p',
          { class: 'hint' },
          'The shop that reads this key may read these details again, as they are then, until ' +
            'the time is up or you stop it under Shops. Every read appears in your activity.',
        ),
      ),
      standingOptions,
    ),
    h('div', { class: 'actions' }, create),
  );

  body.replaceChildren(form, keySlot);
}
