/** Row types of the accounts feature. Times are milliseconds since the epoch. */

export interface CustomersTable {
  id: string;
  /** The WebAuthn user handle (base64url of 32 random bytes); never shown to vendors. */
  user_handle: string;
  /** The customer's data key, wrapped by the master key (see crypto/data-keys.ts). */
  data_key: Uint8Array;
  master_key_id: string;
  created_at: number;
  updated_at: number;
}

export interface PasskeysTable {
  /** The credential id, base64url. */
  id: string;
  customer_id: string;
  /** COSE public key. */
  public_key: Uint8Array;
  counter: number;
  /** JSON array of transports. */
  transports: string;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: number;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

export interface SessionsTable {
  /** SHA-256 of the session id in the cookie; the id itself is never stored. */
  id_hash: string;
  customer_id: string;
  created_at: number;
  expires_at: number;
}

export interface RecoveryCodesTable {
  id: string;
  customer_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

export type ChallengePurpose = 'sign_up' | 'sign_in' | 'add_passkey' | 'recover';

export interface WebauthnChallengesTable {
  /** The challenge as sent to the browser (base64url). */
  challenge: string;
  purpose: ChallengePurpose;
  /** The account the ceremony is for; null for sign-up and usernameless sign-in. */
  customer_id: string | null;
  /** For sign-up: the user handle the new account will get. */
  user_handle: string | null;
  /** For recovery: the recovery code that started it, consumed on success. */
  recovery_code_id: string | null;
  expires_at: number;
}

export interface AccountsTables {
  customers: CustomersTable;
  passkeys: PasskeysTable;
  sessions: SessionsTable;
  recovery_codes: RecoveryCodesTable;
  webauthn_challenges: WebauthnChallengesTable;
}
