import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { type AuditEntry, problemSchema } from '@webkey/protocol';
import { SoftAuthenticator, VaultCustomer } from '@webkey/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admitRecoveryAttempt, RECOVERY_CODE_FAILURE_LIMITS } from '../limits/failure-limits.ts';
import { expectProblem } from '../testing/expect-problem.ts';
import { startTestVault, TEST_ENGINES, type TestVault, testClock } from '../testing/test-vault.ts';
import { RECENT_SIGN_IN_MS } from './session-cookie.ts';

async function countRows(
  vault: TestVault,
  table: 'customers' | 'passkeys' | 'sessions',
): Promise<number> {
  const row = await vault.ctx.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

function flipLastByte(base64url: string): string {
  const bytes = Buffer.from(base64url, 'base64url');
  bytes[bytes.length - 1]! ^= 0x01;
  return bytes.toString('base64url');
}

describe.each(TEST_ENGINES)('passkey accounts on %s', (engine) => {
  const clock = testClock();
  let vault: TestVault;

  beforeAll(async () => {
    vault = await startTestVault(engine, { clock });
  });
  afterAll(async () => {
    await vault.dispose();
  });

  async function signUpOptions(customer: VaultCustomer) {
    return customer.expect<PublicKeyCredentialCreationOptionsJSON>(
      'POST',
      '/api/v1/auth/sign-up/options',
      {
        userName: 'Ada',
      },
    );
  }

  async function signInOptions(customer: VaultCustomer) {
    return customer.expect<PublicKeyCredentialRequestOptionsJSON>(
      'POST',
      '/api/v1/auth/sign-in/options',
      {},
    );
  }

  describe('sign-up', () => {
    it('creates an account, a session cookie and ten recovery codes', async () => {
      const ada = new VaultCustomer(vault.url);
      const { recoveryCodes } = await ada.signUp();
      expect(recoveryCodes).toHaveLength(10);
      expect(new Set(recoveryCodes).size).toBe(10);
      for (const code of recoveryCodes)
        expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
      const session = await ada.request('GET', '/api/v1/auth/session');
      expect(session.status).toBe(200);
      expect(session.body).toEqual({ signedIn: true, passkeys: 1 });
    });

    it('sets an HttpOnly, SameSite=Strict session cookie, not Secure on http://localhost', async () => {
      const options = await signUpOptions(new VaultCustomer(vault.url));
      const response = await new SoftAuthenticator().createCredential(options, {
        origin: vault.origin,
      });
      const answer = await fetch(`${vault.url}/api/v1/auth/sign-up/verify`, {
        method: 'POST',
        headers: { origin: vault.origin, 'content-type': 'application/json' },
        body: JSON.stringify({ response }),
      });
      expect(answer.status).toBe(201);
      const [cookie] = answer.headers.getSetCookie();
      expect(cookie).toMatch(/^webkey_session=[A-Za-z0-9_-]{43};/);
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
      expect(cookie).toContain('Path=/');
      expect(cookie).not.toContain('Secure');
      expect(answer.headers.get('cache-control')).toBe('no-store');
    });

    it.each([
      [1023, 201],
      [1024, 400],
    ])('takes credential ids of up to 1023 bytes (%i bytes: %i)', async (bytes, status) => {
      const before = await countRows(vault, 'passkeys');
      const device = new SoftAuthenticator({ credentialIdBytes: bytes });
      const options = await signUpOptions(new VaultCustomer(vault.url));
      const response = await device.createCredential(options, { origin: vault.origin });
      const answer = await new VaultCustomer(vault.url).request(
        'POST',
        '/api/v1/auth/sign-up/verify',
        { response },
      );
      if (status === 400) {
        expectProblem(answer, 400, 'passkey_refused');
        expect(await countRows(vault, 'passkeys')).toBe(before);
      } else {
        expect(answer.status).toBe(201);
        expect(await countRows(vault, 'passkeys')).toBe(before + 1);
      }
    });

    it('stores the session id hashed, never as sent in the cookie', async () => {
      const ada = new VaultCustomer(vault.url);
      await ada.signUp();
      const secret = ada.cookie!.split('=')[1]!;
      const rows = await vault.ctx.db.selectFrom('sessions').select('id_hash').execute();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.some((row) => row.id_hash === secret)).toBe(false);
    });

    const refusals: [
      string,
      (o: PublicKeyCredentialCreationOptionsJSON) => Promise<RegistrationResponseJSON>,
    ][] = [
      [
        'from another origin',
        (o) => new SoftAuthenticator().createCredential(o, { origin: 'https://evil.example' }),
      ],
      [
        'for another RP id',
        (o) =>
          new SoftAuthenticator().createCredential(o, {
            origin: vault.origin,
            rpId: 'evil.example',
          }),
      ],
      [
        'without user verification',
        (o) =>
          new SoftAuthenticator({ userVerification: false }).createCredential(o, {
            origin: vault.origin,
          }),
      ],
      [
        'whose client data claims another ceremony type',
        async (o) => {
          const r = await new SoftAuthenticator().createCredential(o, { origin: vault.origin });
          const clientData = JSON.parse(
            Buffer.from(r.response.clientDataJSON, 'base64url').toString(),
          );
          const forged = Buffer.from(
            JSON.stringify({ ...clientData, type: 'webauthn.get' }),
          ).toString('base64url');
          return { ...r, response: { ...r.response, clientDataJSON: forged } };
        },
      ],
      [
        'for a challenge the vault never issued',
        (o) =>
          new SoftAuthenticator().createCredential(
            { ...o, challenge: Buffer.alloc(32, 7).toString('base64url') },
            { origin: vault.origin },
          ),
      ],
    ];
    it.each(refusals)('refuses a registration %s and stores nothing', async (_name, respond) => {
      const before = await countRows(vault, 'customers');
      const customer = new VaultCustomer(vault.url);
      const response = await respond(await signUpOptions(customer));
      const answer = await customer.request('POST', '/api/v1/auth/sign-up/verify', { response });
      expectProblem(answer, 400, 'passkey_refused');
      expect(answer.headers.getSetCookie()).toEqual([]);
      expect(await countRows(vault, 'customers')).toBe(before);
    });

    it('refuses a replayed registration: the challenge is single-use', async () => {
      const customer = new VaultCustomer(vault.url);
      const response = await new SoftAuthenticator().createCredential(
        await signUpOptions(customer),
        { origin: vault.origin },
      );
      expect(
        (await customer.request('POST', '/api/v1/auth/sign-up/verify', { response })).status,
      ).toBe(201);
      const before = await countRows(vault, 'customers');
      const replay = await new VaultCustomer(vault.url).request(
        'POST',
        '/api/v1/auth/sign-up/verify',
        { response },
      );
      expectProblem(replay, 400, 'passkey_refused');
      expect(await countRows(vault, 'customers')).toBe(before);
    });

    it('refuses a challenge after it expired', async () => {
      const customer = new VaultCustomer(vault.url);
      const options = await signUpOptions(customer);
      clock.advance(5 * 60 * 1000 + 1);
      const response = await new SoftAuthenticator().createCredential(options, {
        origin: vault.origin,
      });
      expectProblem(
        await customer.request('POST', '/api/v1/auth/sign-up/verify', { response }),
        400,
        'passkey_refused',
      );
    });

    it('refuses a malformed body with a problem naming the field', async () => {
      const answer = await new VaultCustomer(vault.url).request(
        'POST',
        '/api/v1/auth/sign-up/verify',
        {
          response: { id: 'x' },
        },
      );
      expectProblem(answer, 400, 'invalid_request');
      expect(problemSchema.parse(answer.body).errors?.map((e) => e.pointer)).toContain(
        '/response/rawId',
      );
    });
  });

  describe('sign-in', () => {
    let ada: VaultCustomer;
    beforeAll(async () => {
      ada = new VaultCustomer(vault.url);
      await ada.signUp();
    });

    it('signs in with the passkey and rotates the session id', async () => {
      const before = ada.cookie;
      const answer = await ada.signIn();
      expect(answer.status).toBe(200);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(ada.cookie).toBeDefined();
      expect(ada.cookie).not.toBe(before);
      const stale = new VaultCustomer(vault.url);
      stale.cookie = before;
      expectProblem(await stale.request('GET', '/api/v1/auth/session'), 401, 'unauthenticated');
      expect((await ada.request('GET', '/api/v1/auth/session')).status).toBe(200);
    });

    it('advances the stored sign counter', async () => {
      const id = ada.authenticator.credentials[0]!.id;
      await ada.signIn();
      const row = await vault.ctx.db
        .selectFrom('passkeys')
        .select(['counter', 'last_used_at'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row.counter).toBe(ada.authenticator.credentials[0]!.counter);
      expect(row.last_used_at).not.toBeNull();
    });

    it('records the backup state the passkey reports at sign-in', async () => {
      const device = new SoftAuthenticator({ backupEligible: true });
      const bea = new VaultCustomer(vault.url, { authenticator: device });
      await bea.signUp();
      const backedUp = () =>
        vault.ctx.db
          .selectFrom('passkeys')
          .select(['backed_up', 'device_type'])
          .where('id', '=', device.credentials[0]!.id)
          .executeTakeFirstOrThrow();
      expect(await backedUp()).toEqual({ backed_up: 0, device_type: 'multiDevice' });
      device.backupState = true;
      expect((await bea.signIn()).status).toBe(200);
      expect(await backedUp()).toEqual({ backed_up: 1, device_type: 'multiDevice' });
    });

    it.each([
      ['a multi-device passkey that signs in as single-device', true],
      ['a single-device passkey that signs in as multi-device', false],
    ])('refuses %s: backup eligibility never changes', async (_name, eligible) => {
      const device = new SoftAuthenticator({ backupEligible: eligible });
      const cyd = new VaultCustomer(vault.url, { authenticator: device });
      await cyd.signUp();
      device.backupEligible = !eligible;
      const counter = await vault.ctx.db
        .selectFrom('passkeys')
        .select('counter')
        .where('id', '=', device.credentials[0]!.id)
        .executeTakeFirstOrThrow();
      const customer = new VaultCustomer(vault.url, { authenticator: device });
      expectProblem(await customer.signIn(), 400, 'passkey_refused');
      expect(customer.cookie).toBeUndefined();
      // Nothing stored changed: the counter did not advance.
      expect(
        await vault.ctx.db
          .selectFrom('passkeys')
          .select('counter')
          .where('id', '=', device.credentials[0]!.id)
          .executeTakeFirstOrThrow(),
      ).toEqual(counter);
    });

    type Tamper = (r: AuthenticationResponseJSON) => AuthenticationResponseJSON;
    const tamperings: [string, Tamper][] = [
      [
        'a tampered signature',
        (r) => ({
          ...r,
          response: { ...r.response, signature: flipLastByte(r.response.signature) },
        }),
      ],
      [
        'tampered authenticator data',
        (r) => ({
          ...r,
          response: {
            ...r.response,
            authenticatorData: flipLastByte(r.response.authenticatorData),
          },
        }),
      ],
      ['inconsistent ids', (r) => ({ ...r, rawId: Buffer.alloc(32, 1).toString('base64url') })],
      [
        // Sign-in names no account beforehand: the user handle is how the account is known.
        'no user handle',
        (r) => {
          const { userHandle: _dropped, ...response } = r.response;
          return { ...r, response };
        },
      ],
    ];
    it.each(tamperings)('refuses %s', async (_name, tamper) => {
      const customer = new VaultCustomer(vault.url, { authenticator: ada.authenticator });
      const answer = await customer.signIn(tamper);
      expectProblem(answer, 400, 'passkey_refused');
      expect(customer.cookie).toBeUndefined();
    });

    it('refuses an assertion made for another origin', async () => {
      const customer = new VaultCustomer(vault.url, { authenticator: ada.authenticator });
      expectProblem(
        await customer.signIn(undefined, { origin: 'https://evil.example' }),
        400,
        'passkey_refused',
      );
    });

    it('refuses an assertion made for another RP id', async () => {
      const customer = new VaultCustomer(vault.url, { authenticator: ada.authenticator });
      const options = await signInOptions(customer);
      const response = await ada.authenticator.getAssertion(options, {
        origin: vault.origin,
        rpId: 'evil.example',
        credentialId: ada.authenticator.credentials[0]!.id,
      });
      expectProblem(
        await customer.request('POST', '/api/v1/auth/sign-in/verify', { response }),
        400,
        'passkey_refused',
      );
    });

    it('refuses a replayed assertion: the challenge is single-use', async () => {
      const customer = new VaultCustomer(vault.url, { authenticator: ada.authenticator });
      let captured: AuthenticationResponseJSON | undefined;
      const first = await customer.signIn((r) => {
        captured = r;
        return r;
      });
      expect(first.status).toBe(200);
      const attacker = new VaultCustomer(vault.url);
      expectProblem(
        await attacker.request('POST', '/api/v1/auth/sign-in/verify', { response: captured }),
        400,
        'passkey_refused',
      );
      expect(attacker.cookie).toBeUndefined();
    });

    it('refuses a credential the vault does not know', async () => {
      const stranger = new VaultCustomer(vault.url);
      // A credential created by an authenticator but never verified by the vault.
      await stranger.authenticator.createCredential(await signUpOptions(stranger), {
        origin: vault.origin,
      });
      expectProblem(await stranger.signIn(), 400, 'passkey_refused');
    });

    it("refuses one account's credential presented with another account's user handle", async () => {
      const bob = new VaultCustomer(vault.url);
      await bob.signUp();
      const adaHandle = ada.authenticator.credentials[0]!.userHandle;
      const attempt = new VaultCustomer(vault.url, { authenticator: bob.authenticator });
      expectProblem(
        await attempt.signIn(undefined, { userHandle: adaHandle }),
        400,
        'passkey_refused',
      );
      expect(attempt.cookie).toBeUndefined();
    });

    it('refuses a sign counter that went backwards (a cloned authenticator)', async () => {
      const carol = new VaultCustomer(vault.url);
      await carol.signUp();
      expect((await carol.signIn()).status).toBe(200);
      expect((await carol.signIn()).status).toBe(200);
      const id = carol.authenticator.credentials[0]!.id;
      carol.authenticator.setCounter(id, 0);
      const clone = new VaultCustomer(vault.url, { authenticator: carol.authenticator });
      expectProblem(await clone.signIn(), 400, 'passkey_refused');
      const row = await vault.ctx.db
        .selectFrom('passkeys')
        .select('counter')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row.counter).toBe(2);
    });

    it('refuses an assertion without user verification', async () => {
      const dave = new VaultCustomer(vault.url);
      await dave.signUp();
      dave.authenticator.userVerification = false;
      const attempt = new VaultCustomer(vault.url, { authenticator: dave.authenticator });
      expectProblem(await attempt.signIn(), 400, 'passkey_refused');
      expect(attempt.cookie).toBeUndefined();
    });

    it('refuses an assertion without user presence', async () => {
      const dina = new VaultCustomer(vault.url);
      await dina.signUp();
      dina.authenticator.userPresence = false;
      expectProblem(
        await new VaultCustomer(vault.url, { authenticator: dina.authenticator }).signIn(),
        400,
        'passkey_refused',
      );
    });

    it('expires sessions after their lifetime', async () => {
      const erin = new VaultCustomer(vault.url);
      await erin.signUp();
      expect((await erin.request('GET', '/api/v1/auth/session')).status).toBe(200);
      clock.advance(vault.config.sessionTtlSeconds * 1000 + 1);
      expectProblem(await erin.request('GET', '/api/v1/auth/session'), 401, 'unauthenticated');
    });

    it('signs out one session, and signs out everywhere', async () => {
      const frank = new VaultCustomer(vault.url);
      await frank.signUp();
      const laptop = new VaultCustomer(vault.url, { authenticator: frank.authenticator });
      const phone = new VaultCustomer(vault.url, { authenticator: frank.authenticator });
      expect((await laptop.signIn()).status).toBe(200);
      expect((await phone.signIn()).status).toBe(200);

      const cookie = frank.cookie;
      expect((await frank.request('POST', '/api/v1/auth/sign-out')).status).toBe(204);
      expect(frank.cookie).toBeUndefined();
      const reused = new VaultCustomer(vault.url);
      reused.cookie = cookie;
      expectProblem(await reused.request('GET', '/api/v1/auth/session'), 401, 'unauthenticated');
      expect((await laptop.request('GET', '/api/v1/auth/session')).status).toBe(200);

      expect((await laptop.request('POST', '/api/v1/auth/sign-out-everywhere')).status).toBe(204);
      expectProblem(await phone.request('GET', '/api/v1/auth/session'), 401, 'unauthenticated');
      expectProblem(await laptop.request('GET', '/api/v1/auth/session'), 401, 'unauthenticated');
    });
  });

  describe('origin check', () => {
    it('refuses state-changing requests without the vault origin, changing nothing', async () => {
      const gina = new VaultCustomer(vault.url);
      await gina.signUp();
      for (const origin of [undefined, 'https://evil.example', 'null']) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (origin) headers.origin = origin;
        if (gina.cookie) headers.cookie = gina.cookie;
        const answer = await fetch(`${vault.url}/api/v1/records/profile`, {
          method: 'PUT',
          headers,
          body: JSON.stringify({ legalName: 'Mallory' }),
        });
        expect(answer.status).toBe(403);
        expect(((await answer.json()) as { code: string }).code).toBe('forbidden_origin');
      }
      expectProblem(await gina.request('GET', '/api/v1/records/profile'), 404, 'not_found');
      const signOut = await fetch(`${vault.url}/api/v1/auth/sign-out`, {
        method: 'POST',
        headers: { cookie: gina.cookie! },
      });
      expect(signOut.status).toBe(403);
      expect((await gina.request('GET', '/api/v1/auth/session')).status).toBe(200);
    });
  });

  describe('confirming it is you', () => {
    type Change = (c: VaultCustomer) => Promise<Awaited<ReturnType<VaultCustomer['request']>>>;
    const changes: [string, Change, (c: VaultCustomer) => Promise<unknown>][] = [
      [
        'replacing the recovery codes',
        (c) => c.request('POST', '/api/v1/recovery-codes', {}),
        async (c) =>
          (await c.expect<{ remaining: number }>('GET', '/api/v1/recovery-codes')).remaining,
      ],
      [
        'adding a passkey',
        (c) => c.request('POST', '/api/v1/passkeys/options', { userName: 'Ada' }),
        async (c) => (await c.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ],
      [
        'issuing a key that opens a standing grant',
        (c) =>
          c.request('POST', '/api/v1/webkeys', {
            scope: ['profile'],
            purpose: 'Service plan',
            grantDays: 30,
          }),
        async (c) => (await c.expect<{ webkeys: unknown[] }>('GET', '/api/v1/webkeys')).webkeys,
      ],
      [
        'removing a passkey',
        async (c) => {
          const { passkeys } = await c.expect<{ passkeys: { id: string }[] }>(
            'GET',
            '/api/v1/passkeys',
          );
          return c.request('DELETE', `/api/v1/passkeys/${passkeys[0]!.id}`);
        },
        async (c) => (await c.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ],
    ];

    async function signInAgain(c: VaultCustomer) {
      const options = await c.expect<PublicKeyCredentialRequestOptionsJSON>(
        'POST',
        '/api/v1/auth/reauthenticate/options',
        {},
      );
      const response = await c.authenticator.getAssertion(options, { origin: vault.origin });
      return {
        options,
        answer: await c.request('POST', '/api/v1/auth/sign-in/verify', { response }),
      };
    }

    it.each(changes)(
      'refuses %s five minutes after the passkey sign-in, until the customer signs in again',
      async (_name, change, state) => {
        const ivy = new VaultCustomer(vault.url);
        await ivy.signUp();
        await ivy.addPasskey(new SoftAuthenticator(), 'Spare');
        clock.advance(RECENT_SIGN_IN_MS + 1000);
        const before = await state(ivy);
        expectProblem(await change(ivy), 403, 'reauthentication_required');
        expect(await state(ivy)).toEqual(before);
        // Still signed in for everything else, handing over a key at a counter included.
        expect((await ivy.request('GET', '/api/v1/auth/session')).status).toBe(200);
        const counterKey = { scope: ['profile'], purpose: 'Counter' };
        expect((await ivy.request('POST', '/api/v1/webkeys', counterKey)).status).toBe(201);

        const { options, answer } = await signInAgain(ivy);
        expect(answer.status).toBe(200);
        const { passkeys } = await ivy.expect<{ passkeys: { id: string }[] }>(
          'GET',
          '/api/v1/passkeys',
        );
        expect(options.allowCredentials?.map((c) => c.id).sort()).toEqual(
          passkeys.map((p) => p.id).sort(),
        );
        expect((await change(ivy)).status).toBeLessThan(300);
      },
    );

    it("takes only the signed-in customer's own passkey to confirm", async () => {
      const jo = new VaultCustomer(vault.url);
      await jo.signUp();
      const other = new VaultCustomer(vault.url);
      await other.signUp();
      clock.advance(RECENT_SIGN_IN_MS + 1000);
      const options = await jo.expect<PublicKeyCredentialRequestOptionsJSON>(
        'POST',
        '/api/v1/auth/reauthenticate/options',
        {},
      );
      const response = await other.authenticator.getAssertion(options, {
        origin: vault.origin,
        credentialId: other.authenticator.credentials[0]!.id,
      });
      expectProblem(
        await jo.request('POST', '/api/v1/auth/sign-in/verify', { response }),
        400,
        'passkey_refused',
      );
      expectProblem(
        await jo.request('POST', '/api/v1/recovery-codes', {}),
        403,
        'reauthentication_required',
      );
      expectProblem(
        await new VaultCustomer(vault.url).request(
          'POST',
          '/api/v1/auth/reauthenticate/options',
          {},
        ),
        401,
        'unauthenticated',
      );
    });
  });

  describe('passkeys', () => {
    it('adds, lists and removes passkeys, never the last one', async () => {
      const hana = new VaultCustomer(vault.url);
      await hana.signUp();
      const tablet = new SoftAuthenticator();
      const added = await hana.addPasskey(tablet, 'Tablet');
      expect(added.status).toBe(201);
      const list = await hana.expect<{ passkeys: { id: string; name: string }[] }>(
        'GET',
        '/api/v1/passkeys',
      );
      expect(list.passkeys.map((p) => p.name).sort()).toEqual(['Passkey', 'Tablet']);

      const onTablet = new VaultCustomer(vault.url, { authenticator: tablet });
      expect((await onTablet.signIn()).status).toBe(200);

      const first = list.passkeys.find((p) => p.name === 'Passkey');
      const second = list.passkeys.find((p) => p.name === 'Tablet');
      expect((await hana.request('DELETE', `/api/v1/passkeys/${first!.id}`)).status).toBe(204);
      expectProblem(
        await hana.request('DELETE', `/api/v1/passkeys/${second!.id}`),
        409,
        'last_passkey',
      );
      expectProblem(
        await hana.request('DELETE', `/api/v1/passkeys/${first!.id}`),
        404,
        'not_found',
      );
      expect(
        (await hana.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ).toHaveLength(1);
      // The removed passkey no longer signs in.
      expectProblem(
        await new VaultCustomer(vault.url, { authenticator: hana.authenticator }).signIn(),
        400,
        'passkey_refused',
      );
    });

    it("records passkeys added and removed, and recovery codes replaced, in the customer's log", async () => {
      const kit = new VaultCustomer(vault.url);
      await kit.signUp();
      expect((await kit.addPasskey(new SoftAuthenticator(), 'Work laptop')).status).toBe(201);
      const { passkeys } = await kit.expect<{ passkeys: { id: string; name: string }[] }>(
        'GET',
        '/api/v1/passkeys',
      );
      const laptop = passkeys.find((p) => p.name === 'Work laptop')!;
      expect((await kit.request('DELETE', `/api/v1/passkeys/${laptop.id}`)).status).toBe(204);
      expect((await kit.request('POST', '/api/v1/recovery-codes', {})).status).toBe(201);
      const { entries } = await kit.expect<{ entries: AuditEntry[] }>('GET', '/api/v1/audit');
      expect(
        entries.map((e) => [e.event, e.reason, e.ip]).filter(([event]) => event !== 'signed_up'),
      ).toEqual([
        ['recovery_codes_replaced', null, '127.0.0.1'],
        ['passkey_removed', 'Work laptop', '127.0.0.1'],
        ['passkey_added', 'Work laptop', '127.0.0.1'],
      ]);
    });

    it('never removes the last passkey even when two removals race', async () => {
      const ivan = new VaultCustomer(vault.url);
      await ivan.signUp();
      await ivan.addPasskey(new SoftAuthenticator());
      const { passkeys } = await ivan.expect<{ passkeys: { id: string }[] }>(
        'GET',
        '/api/v1/passkeys',
      );
      const results = await Promise.all(
        passkeys.map((p) => ivan.request('DELETE', `/api/v1/passkeys/${p.id}`)),
      );
      expect(results.map((r) => r.status).sort()).toEqual([204, 409]);
      expect(
        (await ivan.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ).toHaveLength(1);
    });

    it("cannot remove another account's passkey", async () => {
      const jo = new VaultCustomer(vault.url);
      await jo.signUp();
      await jo.addPasskey(new SoftAuthenticator());
      const kim = new VaultCustomer(vault.url);
      await kim.signUp();
      const target = jo.authenticator.credentials[0]!.id;
      expectProblem(await kim.request('DELETE', `/api/v1/passkeys/${target}`), 404, 'not_found');
      expect(
        (await jo.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ).toHaveLength(2);
    });

    it("refuses a passkey registered against another account's challenge", async () => {
      const lee = new VaultCustomer(vault.url);
      await lee.signUp();
      const mo = new VaultCustomer(vault.url);
      await mo.signUp();
      const options = await lee.expect<PublicKeyCredentialCreationOptionsJSON>(
        'POST',
        '/api/v1/passkeys/options',
        {},
      );
      const response = await new SoftAuthenticator().createCredential(options, {
        origin: vault.origin,
      });
      expectProblem(
        await mo.request('POST', '/api/v1/passkeys/verify', { response }),
        400,
        'passkey_refused',
      );
      expect(
        (await mo.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ).toHaveLength(1);
      expect(
        (await lee.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ).toHaveLength(1);
    });

    it('refuses registering the same credential twice', async () => {
      const ned = new VaultCustomer(vault.url);
      await ned.signUp();
      const options = await ned.expect<PublicKeyCredentialCreationOptionsJSON>(
        'POST',
        '/api/v1/passkeys/options',
        {},
      );
      // A real authenticator would refuse (excludeCredentials); a malicious client replays its own credential.
      const reused = await new SoftAuthenticator().createCredential(options, {
        origin: vault.origin,
      });
      expect(
        (await ned.request('POST', '/api/v1/passkeys/verify', { response: reused })).status,
      ).toBe(201);
      const again = await ned.expect<PublicKeyCredentialCreationOptionsJSON>(
        'POST',
        '/api/v1/passkeys/options',
        {},
      );
      expect(again.excludeCredentials).toHaveLength(2);
    });

    it('requires a session', async () => {
      expectProblem(
        await new VaultCustomer(vault.url).request('GET', '/api/v1/passkeys'),
        401,
        'unauthenticated',
      );
    });
  });

  describe('recovery codes', () => {
    async function recover(code: string, device = new SoftAuthenticator()) {
      const customer = new VaultCustomer(vault.url, { authenticator: device });
      const options = await customer.request<PublicKeyCredentialCreationOptionsJSON>(
        'POST',
        '/api/v1/auth/recover/options',
        { code },
      );
      if (options.status !== 200) return { customer, answer: options };
      const response = await device.createCredential(options.body, { origin: vault.origin });
      return {
        customer,
        answer: await customer.request('POST', '/api/v1/auth/recover/verify', { response }),
      };
    }

    it('enrols a new passkey with a code, once, and signs out every other session', async () => {
      const olga = new VaultCustomer(vault.url);
      const { recoveryCodes } = await olga.signUp();
      const code = recoveryCodes[3]!;
      // Typed carelessly: lower case, no hyphens, O for 0 and l for 1.
      const typed = code
        .replaceAll('-', '')
        .toLowerCase()
        .replaceAll('0', 'O')
        .replaceAll('1', 'l');
      const { customer, answer } = await recover(typed);
      expect(answer.status).toBe(200);
      expect((await customer.request('GET', '/api/v1/auth/session')).status).toBe(200);
      expect(
        (await customer.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ).toHaveLength(2);
      expectProblem(await olga.request('GET', '/api/v1/auth/session'), 401, 'unauthenticated');
      expect(
        (await customer.expect<{ remaining: number }>('GET', '/api/v1/recovery-codes')).remaining,
      ).toBe(9);

      const reuse = await recover(code);
      expectProblem(reuse.answer, 400, 'recovery_code_refused');
    });

    it('ends the session the browser presented, even of another account', async () => {
      const ann = new VaultCustomer(vault.url);
      await ann.signUp();
      const annCookie = ann.cookie!;
      const { recoveryCodes } = await new VaultCustomer(vault.url).signUp();
      // Someone recovers their account in a browser where Ann is signed in.
      const device = new SoftAuthenticator();
      const browser = new VaultCustomer(vault.url, { authenticator: device });
      browser.cookie = annCookie;
      const options = await browser.expect<PublicKeyCredentialCreationOptionsJSON>(
        'POST',
        '/api/v1/auth/recover/options',
        { code: recoveryCodes[0] },
      );
      const response = await device.createCredential(options, { origin: vault.origin });
      const answer = await browser.request('POST', '/api/v1/auth/recover/verify', { response });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(browser.cookie).not.toBe(annCookie);
      expectProblem(await ann.request('GET', '/api/v1/auth/session'), 401, 'unauthenticated');
    });

    it('refuses an unknown code', async () => {
      expectProblem((await recover('AAAA-BBBB-CCCC-DDDD')).answer, 400, 'recovery_code_refused');
    });

    it('limits unknown codes per address (429 with Retry-After, until the next minute), never a good one', async () => {
      const { recoveryCodes } = await new VaultCustomer(vault.url).signUp();
      clock.advance(60_000);
      for (let n = 0; n < RECOVERY_CODE_FAILURE_LIMITS.ip; n++) {
        const guess = `AAAA-BBBB-CCCC-${String(n).padStart(4, '0')}`;
        expectProblem((await recover(guess)).answer, 400, 'recovery_code_refused');
      }
      const limited = (await recover('AAAA-BBBB-CCCC-9999')).answer;
      expectProblem(limited, 429, 'rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Strangers spending the budgets block nobody's recovery.
      expect((await recover(recoveryCodes[0]!)).answer.status).toBe(200);
      clock.advance(60_000);
      expectProblem((await recover('AAAA-BBBB-CCCC-9999')).answer, 400, 'recovery_code_refused');
    });

    it('keeps recovery open when the whole vault has spent its budget of unknown codes', async () => {
      const { recoveryCodes } = await new VaultCustomer(vault.url).signUp();
      clock.advance(60_000);
      const now = clock().getTime();
      for (let n = 0; n < RECOVERY_CODE_FAILURE_LIMITS.global; n++)
        await admitRecoveryAttempt(vault.ctx.db, `2001:db8:${n.toString(16)}::1`, now);
      expectProblem((await recover('AAAA-BBBB-CCCC-9998')).answer, 429, 'rate_limited');
      expect((await recover(recoveryCodes[0]!)).answer.status).toBe(200);
      clock.advance(60_000);
    });

    it('spends a code once even when two recoveries race', async () => {
      const pia = new VaultCustomer(vault.url);
      const { recoveryCodes } = await pia.signUp();
      const code = recoveryCodes[0]!;
      const devices = [new SoftAuthenticator(), new SoftAuthenticator()];
      const started = await Promise.all(
        devices.map(async (device) => {
          const customer = new VaultCustomer(vault.url, { authenticator: device });
          const options = await customer.expect<PublicKeyCredentialCreationOptionsJSON>(
            'POST',
            '/api/v1/auth/recover/options',
            { code },
          );
          return {
            customer,
            response: await device.createCredential(options, { origin: vault.origin }),
          };
        }),
      );
      const answers = await Promise.all(
        started.map(({ customer, response }) =>
          customer.request('POST', '/api/v1/auth/recover/verify', { response }),
        ),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 400]);
      const signedIn = started.find((_, i) => answers[i]!.status === 200)!.customer;
      expect(
        (await signedIn.expect<{ passkeys: unknown[] }>('GET', '/api/v1/passkeys')).passkeys,
      ).toHaveLength(2);
    });

    it('regenerates codes: the old ones stop working', async () => {
      const quinn = new VaultCustomer(vault.url);
      const { recoveryCodes: old } = await quinn.signUp();
      const { recoveryCodes: fresh } = await quinn.expect<{ recoveryCodes: string[] }>(
        'POST',
        '/api/v1/recovery-codes',
        {},
        201,
      );
      expect(fresh).toHaveLength(10);
      expect(fresh.some((code) => old.includes(code))).toBe(false);
      expectProblem((await recover(old[0]!)).answer, 400, 'recovery_code_refused');
      expect((await recover(fresh[0]!)).answer.status).toBe(200);
    });

    it('stores only hashes of recovery codes', async () => {
      const rosa = new VaultCustomer(vault.url);
      const { recoveryCodes } = await rosa.signUp();
      const rows = await vault.ctx.db.selectFrom('recovery_codes').select('code_hash').execute();
      const stored = rows.map((r) => r.code_hash).join(' ');
      for (const code of recoveryCodes) {
        expect(stored).not.toContain(code);
        expect(stored).not.toContain(code.replaceAll('-', ''));
      }
    });
  });
});

describe('session cookie over https', () => {
  it('is Secure with the __Host- prefix when the public URL is https', async () => {
    const vault = await startTestVault('sqlite', {
      config: { publicUrl: 'https://vault.example' },
    });
    try {
      expect(vault.origin).toBe('https://vault.example');
      const customer = new VaultCustomer(`http://127.0.0.1:${vault.port}`, {
        origin: 'https://vault.example',
      });
      const options = await customer.expect<PublicKeyCredentialCreationOptionsJSON>(
        'POST',
        '/api/v1/auth/sign-up/options',
        {},
      );
      expect(options.rp.id).toBe('vault.example');
      const response = await customer.authenticator.createCredential(options, {
        origin: 'https://vault.example',
      });
      const answer = await customer.request('POST', '/api/v1/auth/sign-up/verify', { response });
      expect(answer.status).toBe(201);
      const [cookie] = answer.headers.getSetCookie();
      expect(cookie).toMatch(/^__Host-webkey_session=[A-Za-z0-9_-]{43};/);
      expect(cookie).toContain('Secure');
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
      expect(cookie).not.toContain('Domain');
      // The vault reads the prefixed cookie back.
      expect((await customer.request('GET', '/api/v1/auth/session')).status).toBe(200);
    } finally {
      await vault.dispose();
    }
  });
});
