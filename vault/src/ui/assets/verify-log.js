/**
 * Verifies an exported audit log in the browser, trusting nothing but the vault's public keys:
 * every entry's hash (RFC 8785 canonical JSON, SHA-256), the chain of prevHash links from 64
 * zeros, the numbering 1..n, and the vault's ES256 checkpoint over the head (protocol section
 * 13.5). No DOM here: the same module runs in the vault's tests under Node.
 */

const GENESIS = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const CHECKPOINT_TYPE = 'webkey-checkpoint+jwt';

/**
 * RFC 8785 (JCS) for JSON values: members sorted by UTF-16 code units (JavaScript's default
 * string order), strings and numbers written as ECMAScript's JSON.stringify writes them, which
 * the RFC adopts (sections 3.2.2.2, 3.2.2.3).
 *
 * @param {unknown} value
 * @returns {string}
 * @example canonicalJson({ b: 1, a: [true, null, 'x'] }) // '{"a":[true,null,"x"],"b":1}'
 */
export function canonicalJson(value) {
  if (value === null || typeof value === 'boolean' || typeof value === 'string')
    return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('RFC 8785 has no form for NaN or Infinity');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const members = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${members.map(([name, member]) => `${JSON.stringify(name)}:${canonicalJson(member)}`).join(',')}}`;
  }
  throw new TypeError(`cannot canonicalize a ${typeof value}`);
}

/**
 * SHA-256 of a string's UTF-8 bytes, as 64 lowercase hex digits.
 *
 * @param {string} text
 */
export async function sha256Hex(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * The hash of an audit entry: SHA-256 of the canonical JSON of the entry without `hash`.
 *
 * @param {Record<string, unknown>} entry
 */
export async function entryHash(entry) {
  const { hash: _hash, ...rest } = entry;
  return sha256Hex(canonicalJson(rest));
}

/** @param {string} text */
function base64UrlBytes(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** @param {string} text */
function base64UrlJson(text) {
  return JSON.parse(new TextDecoder().decode(base64UrlBytes(text)));
}

/**
 * Verifies the checkpoint JWS and returns its claims. Pinned: ES256 only, typ
 * webkey-checkpoint+jwt only (a web key signed by the same vault cannot pass for a checkpoint),
 * the key named by kid in `jwks`.
 *
 * @param {string} jws
 * @param {{ keys?: any[] }} jwks
 * @param {string} issuer
 * @returns {Promise<{ seq: number, head: string }>}
 */
async function verifyCheckpoint(jws, jwks, issuer) {
  const parts = typeof jws === 'string' ? jws.split('.') : [];
  if (parts.length !== 3) throw new Error('the checkpoint is not a compact JWS');
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  const header = base64UrlJson(headerPart);
  if (header.alg !== 'ES256')
    throw new Error(`the checkpoint algorithm is ${header.alg}, not ES256`);
  if (header.typ !== CHECKPOINT_TYPE) throw new Error('the checkpoint has the wrong type');
  const jwk = (jwks?.keys ?? []).find((key) => key.kid === header.kid);
  if (jwk?.kty !== 'EC' || jwk.crv !== 'P-256')
    throw new Error('the checkpoint was signed with a key the vault does not publish');
  const key = await crypto.subtle.importKey(
    'jwk',
    { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ext: true },
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['verify'],
  );
  // A JWS ES256 signature is r || s, 64 bytes: exactly what WebCrypto's ECDSA verify expects.
  const signature = base64UrlBytes(signaturePart);
  const valid =
    signature.length === 64 &&
    (await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      key,
      signature,
      new TextEncoder().encode(`${headerPart}.${payloadPart}`),
    ));
  if (!valid) throw new Error('the checkpoint signature does not verify');
  const claims = base64UrlJson(payloadPart);
  if (claims.iss !== issuer) throw new Error('the checkpoint was issued by another vault');
  if (
    typeof claims.sub !== 'string' ||
    !Number.isInteger(claims.seq) ||
    claims.seq < 0 ||
    typeof claims.head !== 'string' ||
    typeof claims.iat !== 'number'
  )
    throw new Error('the checkpoint claims are incomplete');
  return { seq: claims.seq, head: claims.head };
}

/**
 * @typedef {{ ok: true, entries: number, head: string }
 *   | { ok: false, entries: number, firstBad: { index: number, seq?: number, id?: string, reason: string } }} Verification
 */

/**
 * @param {number} entries
 * @param {number} index
 * @param {string} reason
 * @param {any} [entry]
 * @returns {Verification}
 */
function bad(entries, index, reason, entry) {
  const which = entry && typeof entry === 'object' ? { seq: entry.seq, id: entry.id } : {};
  return { ok: false, entries, firstBad: { index, reason, ...which } };
}

/**
 * Verifies an audit export against the vault's JWKS, naming the first entry that fails.
 *
 * @param {any} exported the parsed JSON export (GET /api/v1/audit/export)
 * @param {{ keys?: any[] }} jwks the vault's live JWKS (/.well-known/jwks.json)
 * @param {string} [expectedIssuer] the vault this log must come from; default: the export's own
 * @returns {Promise<Verification>}
 * @example
 * const result = await verifyExport(exported, jwks);
 * if (!result.ok) console.log(result.firstBad.seq, result.firstBad.reason);
 */
export async function verifyExport(exported, jwks, expectedIssuer) {
  if (
    exported?.format !== 'webkey-audit-v1' ||
    typeof exported.issuer !== 'string' ||
    !Array.isArray(exported.entries)
  )
    return bad(0, -1, 'this is not a Webkey audit export');
  if (expectedIssuer !== undefined && exported.issuer !== expectedIssuer)
    return bad(0, -1, 'the export comes from another vault');
  const entries = /** @type {any[]} */ (exported.entries);
  const count = entries.length;

  let checkpoint;
  try {
    checkpoint = await verifyCheckpoint(exported.checkpoint, jwks, exported.issuer);
  } catch (error) {
    return bad(count, count, /** @type {Error} */ (error).message);
  }

  let previous = GENESIS;
  for (const [index, entry] of entries.entries()) {
    if (!entry || typeof entry !== 'object' || !Number.isInteger(entry.seq))
      return bad(count, index, 'it is not an audit entry', entry);
    if (entry.seq !== index + 1) {
      const reason =
        entry.seq > index + 1
          ? `entries ${index + 1} to ${entry.seq - 1} are missing`
          : 'it is out of order';
      return bad(count, index, reason, entry);
    }
    if (entry.prevHash !== previous)
      return bad(count, index, 'it does not link to the entry before it', entry);
    if (typeof entry.hash !== 'string' || !HEX64.test(entry.hash))
      return bad(count, index, 'its hash is malformed', entry);
    if ((await entryHash(entry)) !== entry.hash)
      return bad(count, index, 'its content was altered', entry);
    previous = entry.hash;
  }
  if (count < checkpoint.seq)
    return bad(
      count,
      count,
      `the log ends at entry ${count} but the vault signed ${checkpoint.seq}`,
    );
  if (count > checkpoint.seq)
    return bad(
      count,
      checkpoint.seq,
      `entries after ${checkpoint.seq} are not covered by the vault’s signature`,
      entries[checkpoint.seq],
    );
  if (previous !== checkpoint.head)
    return bad(
      count,
      count - 1,
      'the last entry is not the one the vault signed',
      entries[count - 1],
    );
  return { ok: true, entries: count, head: previous };
}
