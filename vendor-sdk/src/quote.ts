/**
 * Putting text the SDK did not choose (a scanned key's `iss`, a vault's answer) into a message
 * a clerk's terminal or a log viewer shows. Raw, such text can carry terminal escape sequences
 * (clear the screen, print "VAULT OK" in green) or bidi overrides that make it read as other
 * text (Trojan Source, CVE-2021-42574).
 */

// DEL and C1 controls (U+009B is a one-character CSI), the Arabic letter mark, LRM/RLM, the
// line and paragraph separators, and the bidi embeddings, overrides and isolates. C0 controls
// are escaped by JSON.stringify already.
const UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text with every control and bidi formatting character written as a `\uXXXX` escape: the
 * same JSON value, harmless on a terminal.
 *
 * @example
 * escapeUnsafeCharacters('"\u202e"') // '"\\u202e"'
 */
export function escapeUnsafeCharacters(json: string): string {
  return json.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `text` as a JSON string literal, quoted, with every control character (C0, DEL, C1) and bidi
 * override or isolate escaped: safe to put in a message.
 *
 * @example
 * quote('https://x\u001b[2J') // '"https://x\\u001b[2J"'
 */
export function quote(text: string): string {
  return escapeUnsafeCharacters(JSON.stringify(text));
}
