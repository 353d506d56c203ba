import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadSigningKey, type VendorPrivateKey } from './client-assertion.ts';
import type { FetchLike } from './deps.ts';
import { WebkeyError } from './errors.ts';
import { escapeUnsafeCharacters, quote } from './quote.ts';
import type { Redemption } from './redemption.ts';
import { canBeTrusted, isVendorId } from './trust.ts';
import { VendorClient } from './vendor-client.ts';
import { generateVendorKeyPair } from './vendor-keys.ts';

/**
 * `webkey-pos`: redeem a web key from a terminal, as a point of sale would. Configuration comes
 * from the environment, parsed once with a strict schema that names the bad variable.
 */

const USAGE = `Usage:
  webkey-pos redeem <key|code> [--issuer URL]   redeem a web key (QR text) or a short code
  webkey-pos keygen <file> [--alg ES256|EdDSA]  write a new private key (JWK) to <file> and
                                                print its public JWK for the metadata document

Environment (redeem):
  WEBKEY_POS_CLIENT_ID         the vendor id: URL of the vendor metadata document
  WEBKEY_POS_KEY_FILE          file holding the vendor's private JWK (JSON)
  WEBKEY_POS_TRUSTED_ISSUERS   comma-separated issuer URLs of trusted vaults

Exit status: 0 redeemed, 1 refused or failed, 2 usage or configuration error.`;

const configSchema = z.object({
  WEBKEY_POS_CLIENT_ID: z
    .string()
    .refine(
      isVendorId,
      'an https URL of the vendor metadata document (plain http only for localhost), in normal form',
    ),
  WEBKEY_POS_KEY_FILE: z.string().min(1),
  WEBKEY_POS_TRUSTED_ISSUERS: z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((issuer) => issuer.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(
          z
            .url({ protocol: /^https?$/ })
            .refine(canBeTrusted, 'an https URL (plain http only for localhost)'),
        )
        .min(1),
    ),
});

/**
 * Where the CLI writes, and the fetch it uses; injected by tests.
 *
 * @example
 * const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
 */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  fetch?: FetchLike;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** A usage or configuration problem: exit status 2. */
class UsageError extends Error {}

/**
 * Runs the CLI and resolves with the exit status.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2), process.env);
 */
export async function main(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIo = processIo,
): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        issuer: { type: 'string' },
        alg: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || command === 'help') {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (command === 'redeem' && rest.length === 1 && values.alg === undefined) {
      return await redeem(rest[0] ?? '', values.issuer, env, io);
    }
    if (command === 'keygen' && rest.length === 1 && values.issuer === undefined) {
      return await keygen(rest[0] ?? '', values.alg, io);
    }
    throw new UsageError(
      command === undefined ? 'no command given' : `cannot run: ${quote(argv.join(' '))}`,
    );
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr(`webkey-pos: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
}

async function redeem(
  input: string,
  issuer: string | undefined,
  env: Record<string, string | undefined>,
  io: CliIo,
): Promise<number> {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`${String(issue?.path[0])}: ${issue?.message ?? 'invalid'}`);
  }
  const config = Object.freeze(parsed.data);
  let privateKey: unknown;
  try {
    privateKey = JSON.parse(await readFile(config.WEBKEY_POS_KEY_FILE, 'utf8'));
  } catch (error) {
    // A JSON parse error quotes the text it choked on: the key file's secret.
    const why = error instanceof SyntaxError ? 'not JSON' : (error as Error).message;
    throw new UsageError(
      `WEBKEY_POS_KEY_FILE: cannot read a JSON private key from ${config.WEBKEY_POS_KEY_FILE} (${why})`,
    );
  }
  try {
    // Imported before any request: a public key, another JSON file or a key whose numbers are
    // not a key would fail only after the network.
    await loadSigningKey(privateKey as VendorPrivateKey);
  } catch (error) {
    throw new UsageError(
      `WEBKEY_POS_KEY_FILE: ${config.WEBKEY_POS_KEY_FILE} holds no usable private key (${(error as Error).message})`,
    );
  }
  try {
    const client = new VendorClient({
      clientId: config.WEBKEY_POS_CLIENT_ID,
      privateKey: privateKey as never,
      trust: { issuers: config.WEBKEY_POS_TRUSTED_ISSUERS },
      ...(io.fetch === undefined ? {} : { fetch: io.fetch }),
    });
    const redemption = await client.redeem(input, issuer === undefined ? {} : { issuer });
    // The customer's data, written by the customer: C1 controls and bidi overrides escaped, so
    // a name cannot drive the clerk's terminal (still the same JSON).
    io.stdout(`${escapeUnsafeCharacters(JSON.stringify(summary(redemption), null, 2))}\n`);
    return 0;
  } catch (error) {
    io.stderr(`webkey-pos: ${describe(error)}\n`);
    return 1;
  }
}

async function keygen(file: string, alg: string | undefined, io: CliIo): Promise<number> {
  if (alg !== undefined && alg !== 'ES256' && alg !== 'EdDSA') {
    throw new UsageError(`--alg must be ES256 or EdDSA, not ${quote(alg)}`);
  }
  const { privateJwk, publicJwk } = await generateVendorKeyPair(alg ?? 'ES256');
  try {
    // wx: never overwrite an existing key; 0600: the private key is for this user only.
    await writeFile(file, `${JSON.stringify(privateJwk)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    io.stderr(`webkey-pos: cannot write ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  io.stdout(`${JSON.stringify(publicJwk, null, 2)}\n`);
  return 0;
}

/** What a clerk's screen or a script needs from a redemption. */
function summary(redemption: Redemption) {
  return {
    issuer: redemption.issuer,
    subject: redemption.subject,
    purpose: redemption.purpose,
    fields: Object.fromEntries(
      Object.entries(redemption.fields).map(([path, field]) => [path, field.value]),
    ),
    claims: redemption.claims,
    missing: redemption.missing,
    usesLeft: redemption.usesLeft,
    auditEntryId: redemption.auditEntryId,
  };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const requestId =
    error instanceof WebkeyError && error.requestId !== undefined
      ? ` (request id ${error.requestId})`
      : '';
  return `${error.name}: ${error.message}${requestId}`;
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
