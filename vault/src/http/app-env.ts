import type { TrustedProxies } from './client-address.ts';

/** The Hono environment of the vault: what middleware puts on the context. */
export interface AppEnv {
  /** What @hono/node-server passes: the Node request, for the client's address. */
  Bindings: { incoming?: unknown; outgoing?: unknown };
  Variables: {
    requestId: string;
    /** Whose X-Forwarded-For to believe, for requestMeta. */
    trustedProxies: TrustedProxies;
    /** Set by requireSession on routes that need a signed-in customer. */
    customerId: string;
    /** The hash of the current session id, for sign-out. */
    sessionIdHash: string;
    /** When the current session started: its passkey ceremony (ms). */
    signedInAt: number;
  };
}
