import { Hono } from 'hono';
import { z } from 'zod';
import { appendAudit } from '../audit/audit-log.ts';
import type { VaultContext } from '../context.ts';
import type { AppEnv } from '../http/app-env.ts';
import { readJson } from '../http/json-body.ts';
import { requestMeta } from '../http/request-meta.ts';
import {
  countUnusedRecoveryCodes,
  deleteCustomerSessions,
  deleteSession,
} from './accounts.repository.ts';
import { inCustomerTransaction } from './customer-transaction.ts';
import {
  finishAddPasskey,
  listCustomerPasskeys,
  removePasskey,
  startAddPasskey,
} from './passkeys.ts';
import { finishRecovery, startRecovery } from './recover.ts';
import { replaceRecoveryCodes } from './recovery-codes.ts';
import { requireRecentSignIn, requireSession, type SessionCookie } from './session-cookie.ts';
import { finishSignIn, startSignIn } from './sign-in.ts';
import { finishSignUp, startSignUp } from './sign-up.ts';
import { authenticationResponseSchema, registrationResponseSchema } from './webauthn.ts';

const label = z.string().trim().min(1).max(64);
const userNameBody = z.strictObject({ userName: label.default('Webkey') });
const registrationBody = z.strictObject({
  response: registrationResponseSchema,
  passkeyName: label.default('Passkey'),
});

/**
 * The account endpoints: sign-up, sign-in, sign-out, recovery, passkeys and recovery codes.
 * Each is a thin adapter over one domain step.
 */
export function accountsRoutes(ctx: VaultContext, cookie: SessionCookie): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const signedIn = requireSession(ctx, cookie);
  const recentSignIn = requireRecentSignIn(ctx);

  app.post('/auth/sign-up/options', async (c) => {
    const { userName } = await readJson(c, userNameBody);
    return c.json(await startSignUp(ctx, userName, requestMeta(c)));
  });

  app.post('/auth/sign-up/verify', async (c) => {
    const body = await readJson(c, registrationBody);
    const result = await finishSignUp(
      ctx,
      body.response,
      body.passkeyName,
      requestMeta(c),
      cookie.read(c),
    );
    cookie.write(c, result.session);
    c.header('cache-control', 'no-store');
    return c.json(
      { recoveryCodes: result.recoveryCodes, sessionExpiresAt: result.session.expiresAt },
      201,
    );
  });

  app.post('/auth/sign-in/options', async (c) => {
    await readJson(c, z.strictObject({}));
    return c.json(await startSignIn(ctx, requestMeta(c)));
  });

  app.post('/auth/sign-in/verify', async (c) => {
    const { response } = await readJson(
      c,
      z.strictObject({ response: authenticationResponseSchema }),
    );
    const result = await finishSignIn(ctx, response, requestMeta(c), cookie.read(c));
    cookie.write(c, result.session);
    c.header('cache-control', 'no-store');
    return c.json({ sessionExpiresAt: result.session.expiresAt });
  });

  app.post('/auth/reauthenticate/options', signedIn, async (c) => {
    await readJson(c, z.strictObject({}));
    return c.json(await startSignIn(ctx, requestMeta(c), c.get('customerId')));
  });

  app.post('/auth/recover/options', async (c) => {
    const body = await readJson(
      c,
      z.strictObject({ code: z.string().min(1).max(64), userName: label.default('Webkey') }),
    );
    return c.json(await startRecovery(ctx, body.code, body.userName, requestMeta(c)));
  });

  app.post('/auth/recover/verify', async (c) => {
    const body = await readJson(c, registrationBody);
    const result = await finishRecovery(
      ctx,
      body.response,
      body.passkeyName,
      requestMeta(c),
      cookie.read(c),
    );
    cookie.write(c, result.session);
    c.header('cache-control', 'no-store');
    return c.json({ sessionExpiresAt: result.session.expiresAt });
  });

  app.get('/auth/session', signedIn, async (c) => {
    const passkeys = await listCustomerPasskeys(ctx, c.get('customerId'));
    return c.json({ signedIn: true, passkeys: passkeys.length });
  });

  app.post('/auth/sign-out', signedIn, async (c) => {
    await deleteSession(ctx.db, c.get('sessionIdHash'));
    cookie.clear(c);
    return c.body(null, 204);
  });

  app.post('/auth/sign-out-everywhere', signedIn, async (c) => {
    await deleteCustomerSessions(ctx.db, c.get('customerId'));
    cookie.clear(c);
    return c.body(null, 204);
  });

  app.get('/passkeys', signedIn, async (c) =>
    c.json({ passkeys: await listCustomerPasskeys(ctx, c.get('customerId')) }),
  );

  app.post('/passkeys/options', signedIn, recentSignIn, async (c) => {
    const { userName } = await readJson(c, userNameBody);
    return c.json(await startAddPasskey(ctx, c.get('customerId'), userName));
  });

  app.post('/passkeys/verify', signedIn, recentSignIn, async (c) => {
    const body = await readJson(c, registrationBody);
    return c.json(
      await finishAddPasskey(
        ctx,
        c.get('customerId'),
        body.response,
        body.passkeyName,
        requestMeta(c),
      ),
      201,
    );
  });

  app.delete('/passkeys/:id', signedIn, recentSignIn, async (c) => {
    await removePasskey(ctx, c.get('customerId'), c.req.param('id'), requestMeta(c));
    return c.body(null, 204);
  });

  app.get('/recovery-codes', signedIn, async (c) =>
    c.json({ remaining: await countUnusedRecoveryCodes(ctx.db, c.get('customerId')) }),
  );

  app.post('/recovery-codes', signedIn, recentSignIn, async (c) => {
    await readJson(c, z.strictObject({}));
    const codes = await inCustomerTransaction(ctx, c.get('customerId'), async (scope) => {
      const replaced = await replaceRecoveryCodes(ctx, scope.trx, scope.customerId);
      await appendAudit(ctx, scope, { event: 'recovery_codes_replaced', meta: requestMeta(c) });
      return replaced;
    });
    c.header('cache-control', 'no-store');
    return c.json({ recoveryCodes: codes }, 201);
  });

  return app;
}
