import { describe, expect, it } from 'vitest';
import { WebkeyUsedOrRevokedError } from '../errors.ts';
import { harness } from '../test-support.ts';
import { pairwiseSubject } from './reference-redemption.ts';

describe('the test vault redeeming like a vault', () => {
  it('does not remember a refusal under its Idempotency-Key: a retry gets a fresh decision (protocol 9)', async () => {
    const start = Date.parse('2026-11-23T18:00:00Z');
    let vaultNow = new Date(start);
    const { vault, makeClient } = await harness({ clock: () => vaultNow });
    // The point of sale's clock is 2 minutes ahead, so a key not valid before start + 60 s
    // passes locally and is sent; the vault, still at start, refuses it.
    const client = makeClient({ clock: () => new Date(start + 120_000) });
    const { key } = await vault.issueWebkey({ claims: { nbf: Math.floor(start / 1000) + 60 } });
    await expect(client.redeem(key, { idempotencyKey: 'sale-9' })).rejects.toBeInstanceOf(
      WebkeyUsedOrRevokedError,
    );
    vaultNow = new Date(start + 120_000);
    const redemption = await client.redeem(key, { idempotencyKey: 'sale-9' });
    expect(redemption.usesLeft).toBe(0);
    // A success is remembered: the same Idempotency-Key gets the same answer.
    const again = await client.redeem(key, { idempotencyKey: 'sale-9' });
    expect(again.redemptionId).toBe(redemption.redemptionId);
  });

  it('sends a pairwise subject of 43 base64url characters, as a vault does (protocol 10)', async () => {
    const { vault, client, vendor } = await harness();
    const redemption = await client.redeem((await vault.issueWebkey()).key);
    expect(redemption.subject).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(redemption.subject).toBe(pairwiseSubject(vault.issuer, vendor.vendorId));
    expect(pairwiseSubject(vault.issuer, 'https://other.example/v.json')).not.toBe(
      redemption.subject,
    );
  });
});
