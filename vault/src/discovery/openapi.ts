import {
  auditEntrySchema,
  auditExportSchema,
  issuedWebkeySchema,
  issueWebkeyRequestSchema,
  jwksSchema,
  passkeySummarySchema,
  problemSchema,
  RECORD_SCHEMAS,
  recordVersionSchema,
  redemptionRequestSchema,
  redemptionResponseSchema,
  vaultMetadataSchema,
  webkeySummarySchema,
} from '@webkey/protocol';
import { z } from 'zod';

function schema(type: z.ZodType): unknown {
  return z.toJSONSchema(type, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
}

const json = (type: z.ZodType) => ({ 'application/json': { schema: schema(type) } });
const problem = {
  description: 'An RFC 9457 problem',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};
const errors = { '4XX': problem, '5XX': problem };
const session = [{ session: [] }];

/**
 * The vault's OpenAPI 3.1 description, generated from the same zod schemas that validate the
 * requests and responses, so it cannot drift from the code.
 *
 * @example
 * const document = buildOpenApi('https://vault.example');
 */
export function buildOpenApi(origin: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Webkey vault',
      version: '1',
      description:
        'A customer-controlled vault: passkey accounts, encrypted versioned records, web keys, audit log. See docs/protocol.md.',
    },
    servers: [{ url: origin }],
    components: {
      schemas: {
        Problem: schema(problemSchema),
        ...Object.fromEntries(
          Object.entries(RECORD_SCHEMAS).map(([category, type]) => [
            `Record_${category}`,
            schema(type),
          ]),
        ),
      },
      securitySchemes: {
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'webkey_session',
          description: 'Set by sign-in; `__Host-webkey_session` over https.',
        },
      },
    },
    paths: {
      '/.well-known/webkey-vault': {
        get: {
          summary: 'Vault discovery',
          responses: {
            200: { description: 'The discovery document', content: json(vaultMetadataSchema) },
          },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          summary: 'The vault’s public signing keys',
          responses: { 200: { description: 'JWKS', content: json(jwksSchema) } },
        },
      },
      '/vendor/v1/redeem': {
        post: {
          summary: 'Redeem a web key or short code (vendor, private_key_jwt)',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: { required: true, content: json(redemptionRequestSchema) },
          responses: {
            200: { description: 'The granted fields', content: json(redemptionResponseSchema) },
            ...errors,
          },
        },
      },
      '/api/v1/webkeys': {
        post: {
          summary: 'Issue a web key',
          security: session,
          requestBody: { required: true, content: json(issueWebkeyRequestSchema) },
          responses: {
            201: {
              description: 'The key, its short code and QR code',
              content: json(issuedWebkeySchema),
            },
            ...errors,
          },
        },
        get: {
          summary: 'List web keys (active only unless all=true)',
          security: session,
          parameters: [{ name: 'all', in: 'query', schema: { type: 'boolean' } }],
          responses: {
            200: {
              description: 'Keys',
              content: json(z.object({ webkeys: z.array(webkeySummarySchema) })),
            },
            ...errors,
          },
        },
      },
      '/api/v1/webkeys/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'One web key',
          security: session,
          responses: {
            200: { description: 'The key', content: json(webkeySummarySchema) },
            ...errors,
          },
        },
        delete: {
          summary: 'Revoke a web key',
          security: session,
          responses: {
            200: { description: 'The revoked key', content: json(webkeySummarySchema) },
            ...errors,
          },
        },
      },
      '/api/v1/records': {
        get: {
          summary: 'List live records',
          security: session,
          responses: {
            200: {
              description: 'Records',
              content: json(z.object({ records: z.array(recordVersionSchema) })),
            },
            ...errors,
          },
        },
      },
      '/api/v1/records/{path}': {
        parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'Current version of a record',
          security: session,
          responses: {
            200: { description: 'The record', content: json(recordVersionSchema) },
            ...errors,
          },
        },
        put: {
          summary: 'Write a new version (If-Match to update, If-None-Match: * to create)',
          security: session,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  oneOf: Object.keys(RECORD_SCHEMAS).map((c) => ({
                    $ref: `#/components/schemas/Record_${c}`,
                  })),
                },
              },
            },
          },
          responses: {
            200: { description: 'Updated', content: json(recordVersionSchema) },
            201: { description: 'Created', content: json(recordVersionSchema) },
            ...errors,
          },
        },
        delete: {
          summary: 'Delete (writes a deletion version; If-Match required)',
          security: session,
          responses: {
            200: { description: 'The deletion version', content: json(recordVersionSchema) },
            ...errors,
          },
        },
      },
      '/api/v1/records/{path}/versions': {
        parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'Every version, newest first',
          security: session,
          responses: {
            200: {
              description: 'Versions',
              content: json(z.object({ versions: z.array(recordVersionSchema) })),
            },
            ...errors,
          },
        },
      },
      '/api/v1/passkeys': {
        get: {
          summary: 'The customer’s passkeys',
          security: session,
          responses: {
            200: {
              description: 'Passkeys',
              content: json(z.object({ passkeys: z.array(passkeySummarySchema) })),
            },
            ...errors,
          },
        },
      },
      '/api/v1/audit': {
        get: {
          summary: 'The audit log, newest first',
          security: session,
          parameters: ['limit', 'before', 'vendor', 'event'].map((name) => ({
            name,
            in: 'query',
            schema: { type: 'string' },
          })),
          responses: {
            200: {
              description: 'Entries',
              content: json(
                z.object({ entries: z.array(auditEntrySchema), nextBefore: z.number().nullable() }),
              ),
            },
            ...errors,
          },
        },
      },
      '/api/v1/audit/export': {
        get: {
          summary: 'Export the whole log (JSON with signed checkpoint, or CSV)',
          security: session,
          parameters: [{ name: 'format', in: 'query', schema: { enum: ['json', 'csv'] } }],
          responses: {
            200: {
              description: 'The export',
              content: { ...json(auditExportSchema), 'text/csv': { schema: { type: 'string' } } },
            },
            ...errors,
          },
        },
      },
    },
  };
}
