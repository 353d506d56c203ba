/** Dates and times in the short forms the pages use ("14:02", "14:02, 23 Nov"), in local time. */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const two = (/** @type {number} */ n) => String(n).padStart(2, '0');

/**
 * Hours and minutes, 24-hour clock.
 *
 * @param {string | number | Date} at
 * @example clockTime('2026-11-23T14:02:00') // '14:02'
 */
export function clockTime(at) {
  const date = new Date(at);
  return `${two(date.getHours())}:${two(date.getMinutes())}`;
}

/**
 * A day: "23 Nov", with the year when it is not this year.
 *
 * @param {string | number | Date} at
 */
export function day(at) {
  const date = new Date(at);
  const year = date.getFullYear() === new Date().getFullYear() ? '' : ` ${date.getFullYear()}`;
  return `${date.getDate()} ${MONTHS[date.getMonth()]}${year}`;
}

/**
 * A moment: "14:02, 23 Nov".
 *
 * @param {string | number | Date} at
 */
export function moment(at) {
  return `${clockTime(at)}, ${day(at)}`;
}

/**
 * Time left as mm:ss (h:mm:ss from an hour up), never negative.
 *
 * @param {number} ms
 * @example countdown(65_000) // '01:05'
 */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return hours > 0 ? `${hours}:${two(minutes)}:${two(seconds)}` : `${two(minutes)}:${two(seconds)}`;
}

/**
 * The host of a vendor id (a URL), to tell two vendors with the same display name apart.
 *
 * @param {string} vendorId
 */
export function vendorHost(vendorId) {
  try {
    return new URL(vendorId).host;
  } catch {
    return vendorId;
  }
}
