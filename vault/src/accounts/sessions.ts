import type { VaultContext } from '../context.ts';
import { sha256Hex } from '../crypto/encoding.ts';
import { newSecret } from '../crypto/ids.ts';
import type { Db } from '../db/schema.ts';
import { deleteSession, findLiveSession, insertSession } from './accounts.repository.ts';

/** A session just created: the secret goes into the cookie, only its hash is stored. */
export interface NewSession {
  secret: string;
  expiresAt: Date;
}

/**
 * Creates a session for a customer, replacing the one the browser presented (if any) so a
 * session id is never carried across sign-in (session fixation).
 */
export async function startSession(
  ctx: VaultContext,
  db: Db,
  customerId: string,
  previousSecret?: string,
): Promise<NewSession> {
  if (previousSecret) await deleteSession(db, sha256Hex(previousSecret));
  const secret = newSecret(ctx.random);
  const now = ctx.clock().getTime();
  const expiresAt = now + ctx.sessionTtlMs;
  await insertSession(db, {
    id_hash: sha256Hex(secret),
    customer_id: customerId,
    created_at: now,
    expires_at: expiresAt,
  });
  return { secret, expiresAt: new Date(expiresAt) };
}

/** The signed-in customer for a session secret, or undefined when unknown or expired. */
export async function resolveSession(
  ctx: VaultContext,
  secret: string,
): Promise<
  { customerId: string; idHash: string; createdAt: number; expiresAt: number } | undefined
> {
  const idHash = sha256Hex(secret);
  const session = await findLiveSession(ctx.db, idHash, ctx.clock().getTime());
  return (
    session && {
      customerId: session.customer_id,
      idHash,
      createdAt: session.created_at,
      expiresAt: session.expires_at,
    }
  );
}
