import { isVendorIdSyntax, LOOPBACK_HOSTS } from '@webkey/protocol';

/**
 * Which vaults a point of sale accepts keys from. Anyone can run a vault, so a key's `iss` is
 * only a claim until the trust policy accepts it: the SDK asks the policy before it sends
 * anything, so an attacker's QR code cannot make the point of sale call an arbitrary URL.
 */

/**
 * A trust policy: a fixed list of issuer URLs (compared as exact strings), or a function that
 * decides per issuer (for example from a directory of vault providers).
 *
 * @example
 * const fixed: TrustPolicy = { issuers: ['https://vault.example'] };
 * const dynamic: TrustPolicy = async (issuer) => (await loadApprovedVaults()).includes(issuer);
 */
export type TrustPolicy =
  | { readonly issuers: readonly string[] }
  | ((issuer: string) => boolean | Promise<boolean>);

/**
 * Whether an issuer can be trusted at all: https, or plain http on this machine (a vault under
 * development). Over plain http to another host, web keys, assertions and customers' data could
 * be read and changed on the way (protocol section 2).
 *
 * @example
 * canBeTrusted('https://vault.example') // true
 * canBeTrusted('http://vault.example') // false
 * canBeTrusted('http://127.0.0.1:7420') // true
 */
export function canBeTrusted(issuer: string): boolean {
  try {
    const url = new URL(issuer);
    return (
      url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
    );
  } catch {
    return false;
  }
}

/**
 * Whether `text` can be a vendor id, as vaults read one: an https URL, or plain http on this
 * machine (a vendor under development; a vault accepts it only in development mode), written
 * in its one normal form (`new URL(text).href === text`), with no fragment and no user or
 * password. A vault refuses any other client id (`invalid_client`).
 *
 * @example
 * isVendorId('https://shop.example/webkey-vendor.json') // true
 * isVendorId('https://Shop.example/webkey-vendor.json') // false: not in normal form
 * isVendorId('ftp://shop.example/v.json') // false
 */
export function isVendorId(text: string): boolean {
  return isVendorIdSyntax(text, true);
}

/**
 * Whether the policy accepts `issuer`. Only a literal `true` counts, and never for an issuer
 * that cannot be trusted at all ({@link canBeTrusted}).
 *
 * @example
 * await isTrustedIssuer({ issuers: ['https://vault.example'] }, 'https://vault.example') // true
 * await isTrustedIssuer({ issuers: ['https://vault.example'] }, 'https://vault.example/') // false
 */
export async function isTrustedIssuer(policy: TrustPolicy, issuer: string): Promise<boolean> {
  if (!canBeTrusted(issuer)) return false;
  if (typeof policy === 'function') return (await policy(issuer)) === true;
  return policy.issuers.includes(issuer);
}

/**
 * The issuer to ask for a short code when the caller named none: the only issuer of a
 * one-element list policy, else undefined.
 *
 * @example
 * soleTrustedIssuer({ issuers: ['https://vault.example'] }) // 'https://vault.example'
 * soleTrustedIssuer(() => true) // undefined
 */
export function soleTrustedIssuer(policy: TrustPolicy): string | undefined {
  if (typeof policy === 'function' || policy.issuers.length !== 1) return undefined;
  return policy.issuers[0];
}
