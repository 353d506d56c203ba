import { api, ProblemError } from './api.js';
import { h, uid } from './dom.js';
import { historyToggle } from './history.js';
import { scopeWords } from './words.js';

/**
 * One form of My details, for one category: fills itself from the stored record, saves with the
 * record's ETag (If-Match) or as new (If-None-Match: *), puts the vault's validation messages
 * next to their fields, and reloads when someone else changed the record first (412).
 */

/** Record labels, as the vault's path grammar allows them. */
const LABEL = /^[a-z][a-z0-9_]{0,31}$/;

/** @typedef {{ path: string, versionId: string, version: number, content: any }} Version */

/**
 * Friendlier words for the vault's validation messages about a value the customer typed.
 *
 * @param {string} message
 * @param {string} value
 */
function friendly(message, value) {
  if (value === '') return 'Please fill this in.';
  if (/ISO date|Invalid date/i.test(message)) return 'Use a date that exists.';
  if (/email/i.test(message)) return 'Check this e-mail address.';
  if (/^Too big/.test(message)) return 'This is too long.';
  return message;
}

/**
 * @param {import('./record-fields.js').FormSpec} spec
 * @param {Map<string, Version>} records the customer's live records by path, shared by all forms
 * @param {import('./app.js').PageContext} ctx
 * @returns {HTMLElement}
 */
export function recordForm(spec, records, ctx) {
  const headingId = uid(`${spec.prefix}-heading`);
  /** The path the form shows. */
  const state = { path: '' };

  /**
   * An input with its label, hint and error message, tied together for assistive technology.
   *
   * @param {{ name: string, label: string, type?: string, options?: [string, string][], hint?: string, autocomplete?: string, optional?: boolean, maxlength?: string, list?: string }} field
   */
  const control = (field) => {
    const id = uid(`${spec.prefix}-${field.name}`);
    const hintId = field.hint ? `${id}-hint` : null;
    const errorId = `${id}-error`;
    // No `name`: were a script to fail, a native submit would carry no value into a URL.
    const common = {
      id,
      testid: `${spec.prefix}-${field.name}`,
      'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
    };
    const input = /** @type {HTMLInputElement | HTMLSelectElement} */ (
      field.type === 'select'
        ? h(
            'select',
            common,
            (field.options ?? []).map(([value, words]) => h('option', { value }, words)),
          )
        : h('input', {
            ...common,
            type: field.type ?? 'text',
            autocomplete: field.autocomplete,
            maxlength: field.maxlength,
            list: field.list,
          })
    );
    const error = h('p', { class: 'field-error', id: errorId, testid: `${common.testid}-error` });
    const wrapper = h(
      'div',
      { class: 'field' },
      h(
        'label',
        { for: id },
        field.label,
        field.optional ? h('span', { class: 'optional' }, ' (optional)') : null,
      ),
      hintId ? h('p', { class: 'hint', id: hintId }, field.hint) : null,
      input,
      error,
    );
    return { input, error, wrapper };
  };

  const fields = spec.fields.map((field) => ({ spec: field, ...control(field) }));

  let label = null;
  if (spec.labelled) {
    const listId = uid(`${spec.prefix}-labels`);
    label = control({
      name: 'label',
      label: spec.labelled.words,
      hint: `A short name, such as ${spec.labelled.suggestions.slice(0, 2).join(' or ')}.`,
      autocomplete: 'off',
      list: listId,
      maxlength: '32',
    });
    label.wrapper.append(
      h(
        'datalist',
        { id: listId },
        spec.labelled.suggestions.map((value) => h('option', { value })),
      ),
    );
    label.input.value = spec.labelled.default;
  }

  const saved = h('p', { class: 'saved', role: 'status', testid: `saved-${spec.prefix}` });
  const historySlot = h('div', { class: 'history-slot' });
  const chips = h('p', { class: 'chips' });

  const clearErrors = () => {
    for (const { input, error } of [...fields, ...(label ? [label] : [])]) {
      error.textContent = '';
      input.removeAttribute('aria-invalid');
    }
  };

  /** The path the form is about: `profile`, or `address.<label>` from the label field. */
  const currentPath = () =>
    label ? `${spec.category}.${label.input.value.trim()}` : spec.category;

  /** Fills the fields from stored content (or the defaults, for undefined). */
  const fill = (/** @type {unknown} */ content) => {
    const values = spec.toForm(content);
    for (const { spec: field, input } of fields) input.value = values[field.name] ?? '';
  };

  /**
   * Switches the form to a path. A stored record fills the fields; a new path keeps what the
   * form shows, so typing a new label after the details (or to copy an address) loses nothing.
   */
  const show = (/** @type {string} */ path, /** @type {Version | null} */ version) => {
    state.path = path;
    if (version) fill(version.content);
    historySlot.replaceChildren(version ? historyToggle(path, ctx.showError) : '');
    renderChips();
  };

  /** The other stored records of a labelled category, one tap away. */
  const renderChips = () => {
    if (!label) return;
    const paths = [...records.keys()].filter((path) => path.startsWith(`${spec.category}.`));
    chips.replaceChildren(
      ...(paths.length > 0 ? ['Saved: '] : []),
      ...paths.map((path) =>
        h(
          'button',
          {
            type: 'button',
            class: 'chip',
            'aria-pressed': String(path === state.path),
            onclick: () => {
              if (!label) return;
              label.input.value = path.slice(spec.category.length + 1);
              clearErrors();
              saved.textContent = '';
              show(path, records.get(path) ?? null);
            },
          },
          scopeWords(path),
        ),
      ),
    );
  };

  label?.input.addEventListener('change', () => {
    clearErrors();
    saved.textContent = '';
    const path = currentPath();
    if (path !== state.path) show(path, records.get(path) ?? null);
  });

  /** Reads the record again after a 412: someone else saved first. */
  const reload = async (/** @type {string} */ path) => {
    try {
      const { data } = await api('GET', `/api/v1/records/${encodeURIComponent(path)}`);
      records.set(path, data);
      show(path, data);
    } catch (error) {
      if (!(error instanceof ProblemError && error.status === 404)) throw error;
      records.delete(path);
      show(path, null);
    }
  };

  /** Puts each validation message next to its field; returns the messages that fit none. */
  const showFieldErrors = (/** @type {{ pointer: string, message: string }[]} */ errors) => {
    const unplaced = [];
    for (const { pointer, message } of errors) {
      const field =
        fields.find((f) => f.spec.pointer === pointer) ??
        fields.find((f) => f.spec.pointer.startsWith(`${pointer}/`)) ??
        fields.find((f) => pointer.startsWith(`${f.spec.pointer}/`));
      if (!field) {
        unplaced.push(message);
        continue;
      }
      if (field.error.textContent) continue;
      field.error.textContent = friendly(message, field.input.value.trim());
      field.input.setAttribute('aria-invalid', 'true');
    }
    fields.find((f) => f.input.hasAttribute('aria-invalid'))?.input.focus();
    return unplaced;
  };

  const save = async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const button = /** @type {HTMLButtonElement} */ (event.submitter);
    clearErrors();
    ctx.clearError();
    saved.textContent = '';
    if (label && !LABEL.test(label.input.value.trim())) {
      label.error.textContent =
        'Use lower-case letters, digits and _, starting with a letter, such as home.';
      label.input.setAttribute('aria-invalid', 'true');
      label.input.focus();
      return;
    }
    const path = currentPath();
    /** @type {Record<string, string>} */
    const values = {};
    for (const { spec: field, input } of fields) {
      const value = input.value.trim();
      values[field.name] = field.upper ? value.toUpperCase() : value;
    }
    const version = records.get(path) ?? null;
    const content = spec.toContent(values, version?.content);
    const headers = version ? { 'if-match': `"${version.versionId}"` } : { 'if-none-match': '*' };
    button.disabled = true;
    try {
      const { data } = await api('PUT', `/api/v1/records/${encodeURIComponent(path)}`, {
        body: content,
        headers,
      });
      records.set(path, data);
      show(path, data);
      saved.textContent = 'Saved';
    } catch (error) {
      if (!(error instanceof ProblemError)) return ctx.showError(error);
      if (error.status === 412) {
        const reloaded = await reload(path).then(
          () => true,
          (failure) => {
            ctx.showError(failure);
            return false;
          },
        );
        if (reloaded)
          ctx.showError(
            `${spec.title}: this changed somewhere else since you opened it. ` +
              'The latest version is shown now: check it and save again.',
          );
      } else if (error.status === 400 && error.problem.errors?.length) {
        const unplaced = showFieldErrors(error.problem.errors);
        ctx.showError(
          unplaced.length > 0
            ? `${spec.title}: ${unplaced.join(' ')}`
            : `${spec.title}: some details need a fix. See the messages next to the fields.`,
        );
      } else ctx.showError(error);
    } finally {
      button.disabled = false;
    }
  };

  const form = h(
    'form',
    { novalidate: true, class: 'stack', onsubmit: save },
    label ? label.wrapper : null,
    label ? chips : null,
    fields.map((field) => field.wrapper),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', testid: `save-${spec.prefix}` }, 'Save'),
      saved,
    ),
  );
  form.addEventListener('input', () => {
    saved.textContent = '';
  });

  fill(undefined);
  const path = currentPath();
  show(path, records.get(path) ?? null);

  return h(
    'section',
    { class: 'card', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, spec.title),
    h('p', { class: 'intro' }, spec.intro),
    form,
    historySlot,
  );
}
