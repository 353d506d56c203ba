/** Row types of the vault's signing keys. Times are milliseconds since the epoch. */
export interface SigningKeysTable {
  kid: string;
  public_jwk: string;
  /** The private JWK, sealed by the master key. */
  private_key: Uint8Array;
  master_key_id: string;
  created_at: number;
  /** When it stopped signing; null for the active key. */
  retired_at: number | null;
  /** Until when a retired key still verifies (its grace period). */
  verify_until: number | null;
}
