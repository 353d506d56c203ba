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
 * Whether the policy accepts `issuer`. Only a literal `true` counts.
 *
 * @example
 * await isTrustedIssuer({ issuers: ['https://vault.example'] }, 'https://vault.example') // true
 * await isTrustedIssuer({ issuers: ['https://vault.example'] }, 'https://vault.example/') // false
 */
export async function isTrustedIssuer(policy: TrustPolicy, issuer: string): Promise<boolean> {
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
