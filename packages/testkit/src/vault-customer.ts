import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { SoftAuthenticator } from './soft-authenticator.ts';

/** A response read by {@link VaultCustomer}: status, headers and the parsed JSON body. */
export interface VaultResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * A customer driving a vault over real HTTP, the way the web app does: it keeps the session
 * cookie, sends the vault's Origin on every request, and answers passkey ceremonies with a
 * {@link SoftAuthenticator}.
 *
 * @example
 * const ada = new VaultCustomer('http://localhost:7420');
 * const { recoveryCodes } = await ada.signUp();
 * await ada.request('PUT', '/api/v1/records/profile', { legalName: 'Ada Lovelace' });
 */
export class VaultCustomer {
  readonly authenticator: SoftAuthenticator;
  /** The session cookie as `name=value`, or undefined when signed out. */
  cookie: string | undefined;

  constructor(
    readonly baseUrl: string,
    options: { authenticator?: SoftAuthenticator; origin?: string } = {},
  ) {
    this.authenticator = options.authenticator ?? new SoftAuthenticator();
    this.origin = options.origin ?? new URL(baseUrl).origin;
  }

  /** The Origin header sent with every request. */
  origin: string;

  /**
   * Sends a request. Objects are sent as JSON; a string body is sent as is (set content-type
   * yourself). Set-Cookie answers update the session cookie.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<VaultResponse<T>> {
    const init: RequestInit = {
      method,
      headers: {
        origin: this.origin,
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(body !== undefined && typeof body !== 'string'
          ? { 'content-type': 'application/json' }
          : {}),
        ...headers,
      },
      redirect: 'manual',
    };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const response = await fetch(new URL(path, this.baseUrl), init);
    this.updateCookie(response.headers.getSetCookie());
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  private updateCookie(setCookies: string[]): void {
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';');
      const cleared = attributes.some(
        (a) => /^\s*max-age=0\s*$/i.test(a) || /expires=thu, 01 jan 1970/i.test(a),
      );
      const value = pair.slice(pair.indexOf('=') + 1);
      this.cookie = cleared || value === '' ? undefined : pair.trim();
    }
  }

  /** Signs up with a new passkey; returns the recovery codes shown once. */
  async signUp(userName = 'Test customer'): Promise<{ recoveryCodes: string[] }> {
    const options = await this.expect<PublicKeyCredentialCreationOptionsJSON>(
      'POST',
      '/api/v1/auth/sign-up/options',
      { userName },
    );
    const response = await this.authenticator.createCredential(options, { origin: this.origin });
    return this.expect('POST', '/api/v1/auth/sign-up/verify', { response }, 201);
  }

  /** Asks for sign-in options and answers them; returns the raw verification response. */
  async signIn(
    tamper: (response: AuthenticationResponseJSON) => AuthenticationResponseJSON = (r) => r,
    context: { credentialId?: string; userHandle?: string; origin?: string } = {},
  ): Promise<VaultResponse> {
    const options = await this.expect<PublicKeyCredentialRequestOptionsJSON>(
      'POST',
      '/api/v1/auth/sign-in/options',
      {},
    );
    const response = await this.authenticator.getAssertion(options, {
      origin: context.origin ?? this.origin,
      ...(context.credentialId ? { credentialId: context.credentialId } : {}),
      ...(context.userHandle ? { userHandle: context.userHandle } : {}),
    });
    return this.request('POST', '/api/v1/auth/sign-in/verify', { response: tamper(response) });
  }

  /** Adds one more passkey from `authenticator` to the signed-in account. */
  async addPasskey(
    authenticator: SoftAuthenticator,
    passkeyName = 'Second device',
  ): Promise<VaultResponse> {
    const options = await this.expect<PublicKeyCredentialCreationOptionsJSON>(
      'POST',
      '/api/v1/passkeys/options',
      {},
    );
    const response: RegistrationResponseJSON = await authenticator.createCredential(options, {
      origin: this.origin,
    });
    return this.request('POST', '/api/v1/passkeys/verify', { response, passkeyName });
  }

  /**
   * Writes a record the way a careful client does: reads it first, then sends `If-Match` with its
   * ETag (or `If-None-Match: *` when it does not exist yet). Throws unless the write succeeds.
   *
   * @example
   * await ada.writeRecord('address.home', { lines: ['1 Main St'], locality: 'Leeds', country: 'GB' });
   */
  async writeRecord(path: string, content: unknown): Promise<VaultResponse> {
    const current = await this.request('GET', `/api/v1/records/${path}`);
    const etag = current.status === 200 ? current.headers.get('etag') : null;
    const answer = await this.request(
      'PUT',
      `/api/v1/records/${path}`,
      content,
      etag ? { 'if-match': etag } : { 'if-none-match': '*' },
    );
    if (answer.status !== 200 && answer.status !== 201) {
      throw new Error(`PUT ${path}: got ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
    return answer;
  }

  /** Sends a request and throws unless the status is the expected one. */
  async expect<T>(method: string, path: string, body?: unknown, status = 200): Promise<T> {
    const response = await this.request<T>(method, path, body);
    if (response.status !== status) {
      throw new Error(
        `${method} ${path}: expected ${status}, got ${response.status}: ${JSON.stringify(response.body)}`,
      );
    }
    return response.body;
  }
}
