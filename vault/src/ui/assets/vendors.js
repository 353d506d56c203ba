import { api } from './api.js';

/**
 * The vendors the customer has dealt with, taken from their own audit log (redemptions and
 * refusals name the vendor as its metadata said at the time). There is no vendor directory: a
 * vendor is known by its id, the URL of its metadata document.
 *
 * @param {AbortSignal} [signal]
 * @returns {Promise<Map<string, string>>} vendor id to its latest name
 * @example
 * for (const [id, name] of await knownVendors()) console.log(name, id);
 */
export async function knownVendors(signal) {
  /** @type {Map<string, string>} */
  const vendors = new Map();
  /** @type {number | null} */
  let before = null;
  // A few pages cover years of counter visits; the list is a convenience, not a record.
  for (let page = 0; page < 4; page++) {
    const query = before === null ? '' : `&before=${before}`;
    const { data } = await api('GET', `/api/v1/audit?limit=500${query}`, signal ? { signal } : {});
    for (const entry of data.entries) {
      // Newest first: the first name seen is the vendor's current one.
      if (entry.vendor && !vendors.has(entry.vendor.id))
        vendors.set(entry.vendor.id, entry.vendor.name);
    }
    before = data.nextBefore;
    if (before === null) break;
  }
  return vendors;
}
