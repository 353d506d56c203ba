import { BlockList, isIP } from 'node:net';

/**
 * The header trusted proxies name the client in: `X-Forwarded-For` (the default) or RFC 7239
 * `Forwarded`. Only one is read: a proxy that appends to one passes the other through as the
 * client wrote it.
 */
export type ForwardingHeader = 'x-forwarded-for' | 'forwarded';

/**
 * The reverse proxies (load balancers) whose forwarding header the vault believes: without them
 * a client could write any address there, and dodge the per-address short-code budget or put a
 * false address in a customer's audit log.
 */
export interface TrustedProxies {
  /** The networks as configured, normalized (for logs and docs). */
  readonly networks: readonly string[];
  /** The header they append the client's address to. */
  readonly header: ForwardingHeader;
  has(address: string): boolean;
}

/** Nobody is trusted: the connection's peer is the client (the default). */
export const NO_TRUSTED_PROXIES: TrustedProxies = {
  networks: [],
  header: 'x-forwarded-for',
  has: () => false,
};

/**
 * Parses a comma-separated list of IP addresses and CIDR networks, IPv4 or IPv6
 * (`10.0.0.0/8, 192.168.1.5, fd00::/8`). Throws a RangeError naming the first bad entry.
 *
 * @example
 * parseTrustedProxies('10.0.0.0/8, ::1').has('10.1.2.3') // true
 */
export function parseTrustedProxies(
  text: string,
  header: ForwardingHeader = 'x-forwarded-for',
): TrustedProxies {
  const list = new BlockList();
  const networks: string[] = [];
  for (const entry of text.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    const [address = '', prefixText, ...rest] = entry.split('/');
    const family = isIP(address);
    const maxPrefix = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
    if (
      family === 0 ||
      rest.length > 0 ||
      (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) ||
      prefix > maxPrefix
    ) {
      throw new RangeError(`not an IP address or CIDR network: ${entry}`);
    }
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    networks.push(`${address}/${prefix}`);
  }
  if (networks.length === 0) return NO_TRUSTED_PROXIES;
  return {
    networks,
    header,
    has: (address) => {
      const family = isIP(address);
      // BlockList matches IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) against IPv4 networks.
      return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * One hop as an address: `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]`, with a port after IPv4
 * or bracketed IPv6 (some proxies add one; RFC 7239 allows it); undefined for anything else
 * (RFC 7239's `unknown` and obfuscated `_names` included).
 */
function hopAddress(hop: string): string | undefined {
  if (isIP(hop) !== 0) return hop;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(hop);
  if (bracketed) return isIP(bracketed[1]!) === 6 ? bracketed[1] : undefined;
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(hop);
  return withPort && isIP(withPort[1]!) === 4 ? withPort[1] : undefined;
}

/** IPv4-mapped IPv6 (how a dual-stack socket reports IPv4 peers) as plain IPv4. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** `text` split at `separator` where it is not inside a quoted string (RFC 7230 quoting). */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '\\') i++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && char === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** A token or quoted-string value as its text; undefined for a malformed quoted string. */
function unquoted(value: string): string | undefined {
  if (!value.startsWith('"')) return value;
  const match = /^"((?:[^"\\]|\\.)*)"$/.exec(value);
  return match ? match[1]!.replace(/\\(.)/g, '$1') : undefined;
}

/**
 * The `for` parameter of each element of an RFC 7239 Forwarded value, in order (`for=192.0.2.60;
 * proto=https, for="[2001:db8::17]:4711"`); an element without one (or malformed) gives ''.
 */
function forwardedForValues(value: string): string[] {
  return splitOutsideQuotes(value, ',').map((element) => {
    for (const pair of splitOutsideQuotes(element, ';')) {
      const equals = pair.indexOf('=');
      if (equals !== -1 && pair.slice(0, equals).trim().toLowerCase() === 'for') {
        return unquoted(pair.slice(equals + 1).trim()) ?? '';
      }
    }
    return '';
  });
}

/**
 * The client's address. The connection's peer, unless the peer is a trusted proxy: then the
 * proxies' header (`forwarded`: X-Forwarded-For, or the `for` of each Forwarded element) is read
 * from the right (each proxy appends the address it received the request from), skipping trusted
 * proxies, and the first address that is not one is the client. A client can prepend anything to
 * the header, never change what a trusted proxy appended, so entries left of the first untrusted
 * one are never read. A malformed hop ends the walk at the trusted proxy
 * that reported it; when every hop is trusted, the leftmost is the client.
 *
 * @example
 * clientAddress('10.0.0.2', '6.6.6.6, 203.0.113.7', parseTrustedProxies('10.0.0.0/8')) // '203.0.113.7'
 * clientAddress('10.0.0.2', 'for=203.0.113.7;proto=https', parseTrustedProxies('10.0.0.0/8', 'forwarded'))
 */
export function clientAddress(
  peer: string | null,
  forwarded: string | undefined,
  trusted: TrustedProxies,
): string | null {
  if (peer === null) return null;
  let client = unmapped(peer);
  if (forwarded === undefined || !trusted.has(client)) return client;
  const hops =
    trusted.header === 'forwarded' ? forwardedForValues(forwarded) : forwarded.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!.trim());
    if (hop === undefined) return client;
    client = unmapped(hop);
    if (!trusted.has(client)) return client;
  }
  return client;
}
