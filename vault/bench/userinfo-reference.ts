/**
 * The yardstick that issue #3 names: an OpenID Connect provider's userinfo endpoint
 * (oidc-provider, the certified Node.js implementation), measured by `pnpm bench --reference`
 * in the same run as the redemptions, so the two compare on one machine at one moment.
 *
 * Set up in the provider's favour: its quick-start in-memory store (no database, nothing
 * written per request, nothing made durable) and opaque access tokens (a lookup, no signature
 * to verify). A redemption verifies an ES256 client assertion, writes durably and seals an audit
 * entry. Writes the access tokens it minted, one JSON array, to WEBKEY_BENCH_TOKENS_FILE, then
 * prints its URL and serves until killed.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

const ACCOUNTS = 20;
/** Tokens and grants share the memory store's 1,000 entries: fewer tokens than that. */
const TOKENS = 500;
const SCOPE = 'openid profile address';

const tokensFile = process.env.WEBKEY_BENCH_TOKENS_FILE;
if (!tokensFile) throw new Error('WEBKEY_BENCH_TOKENS_FILE is not set');

const provider = new Provider('http://127.0.0.1', {
  clients: [
    {
      client_id: 'bench-rp',
      client_secret: 'bench-client-secret-not-used-for-userinfo',
      redirect_uris: ['https://rp.example/callback'],
    },
  ],
  claims: { openid: ['sub'], profile: ['name', 'birthdate'], address: ['address'] },
  // The same details a bench redemption hands out: an address and a birth date.
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      name: `Bench Customer ${sub}`,
      birthdate: '1980-01-01',
      address: { street_address: `${sub} Bench Street`, locality: 'Loadtown', country: 'GB' },
    }),
  }),
  features: { devInteractions: { enabled: false } },
});

const client = await provider.Client.find('bench-rp');
if (!client) throw new Error('the bench client is not configured');
const grantIds: string[] = [];
for (let i = 0; i < ACCOUNTS; i++) {
  const grant = new provider.Grant({ accountId: `customer-${i}`, clientId: client.clientId });
  grant.addOIDCScope(SCOPE);
  grantIds.push(await grant.save());
}
const tokens: string[] = [];
for (let i = 0; i < TOKENS; i++) {
  const token = new provider.AccessToken({
    accountId: `customer-${i % ACCOUNTS}`,
    client,
    grantId: grantIds[i % ACCOUNTS]!,
    scope: SCOPE,
    gty: 'authorization_code',
  });
  tokens.push(await token.save());
}
writeFileSync(tokensFile, JSON.stringify(tokens));

const server = createServer(provider.callback());
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
