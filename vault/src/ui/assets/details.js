import { api } from './api.js';
import { h, pageTitle } from './dom.js';
import { FORMS } from './record-fields.js';
import { recordForm } from './record-form.js';

/**
 * My details: one form per category, filled from the customer's live records (one GET for all,
 * whose version ids are the ETags the forms send back when saving).
 *
 * @param {HTMLElement} root
 * @param {import('./app.js').PageContext} ctx
 */
export async function render(root, ctx) {
  const body = h(
    'div',
    { class: 'stack-lg' },
    h('p', { class: 'loading' }, 'Loading your details…'),
  );
  root.append(
    h(
      'div',
      { class: 'page narrow' },
      pageTitle('My details'),
      h(
        'p',
        { class: 'lead' },
        'Only you can see these. You choose what to hand over, one key at a time, and every ' +
          'change is kept as a new version.',
      ),
      body,
    ),
  );
  const { data } = await api('GET', '/api/v1/records', { signal: ctx.signal });
  /** @type {Map<string, any>} */
  const records = new Map(data.records.map((/** @type {any} */ record) => [record.path, record]));
  body.replaceChildren(...FORMS.map((spec) => recordForm(spec, records, ctx)));
}
