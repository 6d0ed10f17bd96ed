/**
 * The OpenAPI 3.1 document of the HTTP contract (`docs/api.md`), generated from the zod schemas the
 * handlers parse their requests with (`z.toJSONSchema`) and from the manifest's routes: a path is in
 * the document exactly when the manifest routes it. `ROUTE_DOCS` describes every route of the
 * contract, including those whose work lands on other branches; `test/unit/openapi.test.ts` fails
 * when the manifest routes something `ROUTE_DOCS` does not describe.
 *
 * Served locally at `GET /openapi.json`; `npx onceflow docs` writes `docs/openapi.json`.
 */
import * as z from 'zod';
import { addRecipientsSchema, createCampaignSchema } from '../functions/campaigns/schemas.js';
import { leadSchema } from '../functions/conversations/handlers/put-lead.js';
import { endpointBodySchema, replayBodySchema } from '../functions/events/schemas.js';
import { newMessageSchema, replyBodySchema } from '../functions/replies/schemas.js';
import { tenantConfigSchema } from '../functions/tenants/index.js';
import { providerCredentialSchemas } from '../functions/tenants/provider-credentials.js';
import { ghlSmsSchema } from '../functions/webhooks/ghl-sms.js';
import { unipileEnvelopeSchema } from '../functions/webhooks/unipile.js';
import { cloudWebhookSchema } from '../functions/webhooks/whatsapp-cloud.js';
import { gatewayEnvelopeSchema } from '../functions/webhooks/whatsapp-web.js';
import { type HttpMethod, httpRoutes } from './manifest.js';

type Auth = 'admin' | 'operator' | 'webhookToken' | 'hubSignature' | 'exportToken' | 'none';

export interface RouteDoc {
  readonly summary: string;
  readonly auth: Auth;
  /** Request body schema (the handler's own). */
  readonly body?: z.core.$ZodType;
  /** Success status and what it returns, in the contract's words. */
  readonly success: { readonly status: number; readonly description: string };
  readonly query?: readonly string[];
}

const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  }),
});

/** Every route of the contract, `METHOD path` as the manifest writes it. */
export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  'GET /health': {
    summary: 'Readiness: 200 only when the store is reachable',
    auth: 'none',
    success: { status: 200, description: '{"status":"ok"}' },
  },
  'PUT /v1/tenants/{tenantId}': {
    summary: "Create or update a tenant's configuration (idempotent)",
    auth: 'admin',
    body: tenantConfigSchema,
    success: { status: 200, description: '{"tenantId", "created": true|false, "replaced"?}' },
  },
  'GET /v1/tenants/{tenantId}': {
    summary: "A tenant's configuration (no secrets); 404 for an unknown tenant",
    auth: 'admin',
    success: {
      status: 200,
      description:
        'the configuration as PUT (defaults filled in) with "tenantId", "version", "createdAt", "updatedAt", "credentialsIssued"; never a credential hash',
    },
  },
  'POST /v1/tenants/{tenantId}/credentials': {
    summary: 'Issue fresh credentials, revoking the previous ones (shown once)',
    auth: 'admin',
    success: { status: 201, description: '{"apiKey", "webhookToken", "exportToken"}' },
  },
  'PUT /v1/tenants/{tenantId}/providers/{provider}': {
    summary:
      "Store the tenant's outbound credentials of `evolution` (WhatsApp Web replies: `{baseUrl, apiKey}`), `ghl` (SMS replies: `{token}`) or `unipile` (LinkedIn, Instagram, Telegram and e-mail replies: `{apiKey}`), sealed at rest, never answered back; the Evolution base URL passes the SSRF guard (400, nothing written); 404 for an unknown tenant or provider",
    auth: 'admin',
    body: z.union([
      providerCredentialSchemas.evolution,
      providerCredentialSchemas.ghl,
      providerCredentialSchemas.unipile,
    ]),
    success: { status: 204, description: 'no body' },
  },
  'GET /webhooks/whatsapp': {
    summary: 'WhatsApp subscription challenge',
    auth: 'none',
    query: ['hub.mode', 'hub.verify_token', 'hub.challenge'],
    success: { status: 200, description: 'the challenge, text/plain' },
  },
  'POST /webhooks/whatsapp': {
    summary: 'WhatsApp Cloud API webhook: messages stored and statuses applied once',
    auth: 'hubSignature',
    body: cloudWebhookSchema,
    success: { status: 200, description: '{"received": n, "deduped": m}' },
  },
  'POST /webhooks/whatsapp-web': {
    summary: 'WhatsApp Web gateway (Evolution API v2 shape) webhook',
    auth: 'webhookToken',
    body: gatewayEnvelopeSchema,
    success: { status: 200, description: '{"received": n, "deduped": m} or {"ignored": true}' },
  },
  'POST /webhooks/whatsapp-web/{event}': {
    summary:
      'WhatsApp Web gateway webhook in Evolution\'s "webhook by events" mode (`messages-upsert`, `messages-update`, ...); 404 for a path no Evolution event uses',
    auth: 'webhookToken',
    body: gatewayEnvelopeSchema,
    success: { status: 200, description: '{"received": n, "deduped": m} or {"ignored": true}' },
  },
  'POST /webhooks/unipile': {
    summary:
      'Unipile webhook (LinkedIn, Instagram, Telegram, WhatsApp accounts and e-mail): messages once by message_id, mail once by Message-ID',
    auth: 'webhookToken',
    body: unipileEnvelopeSchema,
    success: { status: 200, description: '{"received": n, "deduped": m} or {"ignored": true}' },
  },
  'POST /webhooks/ghl/sms': {
    summary: 'GoHighLevel inbound SMS workflow webhook, stored once by its stable-field key',
    auth: 'webhookToken',
    body: ghlSmsSchema,
    success: { status: 200, description: '{"success": true, "deduped", "messageId"}' },
  },
  'PUT /v1/leads/{leadId}': {
    summary:
      'Create or update a lead; attach and merge the conversations of its phones, e-mail addresses and LinkedIn ids',
    auth: 'operator',
    body: leadSchema,
    success: { status: 200, description: 'the lead and its conversation' },
  },
  'GET /v1/conversations': {
    summary: "A tenant's conversations, most recent first",
    auth: 'operator',
    query: ['cursor', 'limit'],
    success: { status: 200, description: '{"conversations": [...], "nextCursor"}' },
  },
  'GET /v1/conversations/{conversationId}/messages': {
    summary: "A conversation's messages, oldest first",
    auth: 'operator',
    query: ['cursor', 'limit'],
    success: { status: 200, description: '{"messages": [...], "nextCursor"}' },
  },
  'GET /v1/messages/{messageId}/jobs': {
    summary: "A message's post-processing jobs",
    auth: 'operator',
    success: { status: 200, description: '{"jobs": [{"type", "status", "attempts", "source"}]}' },
  },
  'PUT /v1/event-endpoints/{endpointId}': {
    summary:
      'Register or update an event endpoint (https; private, loopback, link-local and metadata hosts refused)',
    auth: 'operator',
    body: endpointBodySchema,
    success: {
      status: 200,
      description:
        '{"endpointId", "created": true|false, "secret": "whsec_..." (only when created)}',
    },
  },
  'GET /v1/event-endpoints': {
    summary: "The tenant's event endpoints, without secrets",
    auth: 'operator',
    success: { status: 200, description: '{"endpoints": [...]}' },
  },
  'DELETE /v1/event-endpoints/{endpointId}': {
    summary: 'Delete an event endpoint (its pending deliveries close as failed)',
    auth: 'operator',
    success: { status: 200, description: '{"endpointId", "deleted": true}' },
  },
  'GET /v1/event-endpoints/{endpointId}/attempts': {
    summary: "An endpoint's deliveries with their attempts, by status",
    auth: 'operator',
    query: ['status', 'cursor', 'limit'],
    success: {
      status: 200,
      description:
        '{"attempts": [{"eventId", "type", "status", "attempts", "lastStatusCode", "lastError", "nextAttemptAt"}], "nextCursor"}',
    },
  },
  'POST /v1/event-endpoints/{endpointId}/replay': {
    summary: 'Deliver every kept event since a time to this endpoint again (same event ids)',
    auth: 'operator',
    body: replayBodySchema,
    success: {
      status: 202,
      description:
        '{"endpointId", "replayId", "state": "running" | "done", "events": n} (a job: the events sweep continues a running replay from its cursor)',
    },
  },
  'POST /v1/event-endpoints/{endpointId}/secret': {
    summary: "Rotate an endpoint's signing secret (both signatures for 24 hours)",
    auth: 'operator',
    success: { status: 200, description: '{"secret": "whsec_..."}' },
  },
  'POST /v1/conversations/{conversationId}/messages': {
    summary:
      "Queue a reply in the person's conversation, once per Idempotency-Key (required); 422 channel_unavailable / outside_service_window",
    auth: 'operator',
    body: replyBodySchema,
    success: { status: 202, description: '{"messageId", "status": "queued"}' },
  },
  'POST /v1/messages': {
    summary:
      'Queue a message to a person by phone or lead, in their one conversation (found or created); Idempotency-Key required',
    auth: 'operator',
    body: newMessageSchema,
    success: { status: 202, description: '{"messageId", "status": "queued"}' },
  },
  'GET /v1/messages/{messageId}': {
    summary: 'A reply and where its send stands',
    auth: 'operator',
    success: {
      status: 200,
      description:
        '{"messageId", "conversationId", "direction": "out", "channel", "status", "providerMessageId", "attempts", "lastError", "source", "createdAt"}',
    },
  },
  'POST /v1/messages/{messageId}/retry': {
    summary: "An operator's explicit retry of a failed or unknown reply (409 otherwise)",
    auth: 'operator',
    success: { status: 202, description: 'the reply' },
  },
  'POST /v1/campaigns': {
    summary: 'Create a draft campaign with its first page of recipients',
    auth: 'operator',
    body: createCampaignSchema,
    success: { status: 201, description: '{"campaignId", "recipients", "duplicatesCollapsed"}' },
  },
  'GET /v1/campaigns': {
    summary: "A tenant's campaigns, newest first, with totals and progress, paginated",
    auth: 'operator',
    query: ['cursor', 'limit'],
    success: {
      status: 200,
      description:
        '{"campaigns": [{"campaignId", "name", "status", "phoneNumberId", "createdAt", "startedAt"?, "completedAt"?, "totals", "progress": {"sendsPerSecond", "configuredRate", "etaSeconds", "awaitingEvidence"}}], "nextCursor"}; limit 1-50 (default 20)',
    },
  },
  'POST /v1/campaigns/{campaignId}/recipients': {
    summary: 'Add a page of recipients to a draft campaign',
    auth: 'operator',
    body: addRecipientsSchema,
    success: { status: 201, description: '{"recipients", "duplicatesCollapsed"}' },
  },
  'POST /v1/campaigns/{campaignId}/start': {
    summary: 'Start a campaign (starting twice is a no-op)',
    auth: 'operator',
    success: { status: 202, description: 'the campaign status' },
  },
  'POST /v1/campaigns/{campaignId}/pause': {
    summary: 'Pause a campaign',
    auth: 'operator',
    success: { status: 202, description: 'the campaign status' },
  },
  'POST /v1/campaigns/{campaignId}/resume': {
    summary: 'Resume a campaign',
    auth: 'operator',
    success: { status: 202, description: 'the campaign status' },
  },
  'GET /v1/campaigns/{campaignId}': {
    summary: 'A campaign with its totals',
    auth: 'operator',
    success: { status: 200, description: '{"campaignId", "status", "totals"}' },
  },
  'GET /v1/campaigns/{campaignId}/recipients': {
    summary: "A campaign's recipients by status, with a cursor",
    auth: 'operator',
    query: ['status', 'cursor', 'limit'],
    success: { status: 200, description: '{"recipients": [...], "nextCursor"}' },
  },
  'POST /v1/campaigns/{campaignId}/recipients/{phone}/retry': {
    summary: 'Send a held (unknown-outcome) recipient again, once',
    auth: 'operator',
    success: { status: 202, description: 'the recipient' },
  },
  'POST /v1/calls': {
    summary: 'Record a call of an ad-click session (idempotent by callId)',
    auth: 'operator',
    success: { status: 201, description: 'the call' },
  },
  'POST /v1/calls/{callId}/seal': {
    summary: "Seal a call's session into one conversion",
    auth: 'operator',
    success: { status: 200, description: '{"enqueued", "conversionId", "orderId", "reason"?}' },
  },
  'GET /oci/google-ads-export': {
    summary: 'Claim queued conversions for the Google Ads script (JSON or CSV)',
    auth: 'exportToken',
    query: ['limit', 'format', 'kind'],
    success: { status: 200, description: '{"rows": [...], "claimId"} or CSV' },
  },
  'POST /oci/ack': {
    summary: 'Acknowledge exported rows by orderId',
    auth: 'exportToken',
    success: { status: 200, description: '{"updated": n}' },
  },
  'GET /v1/conversions/oci': {
    summary: "A tenant's Google Ads conversions",
    auth: 'operator',
    query: ['status', 'cursor'],
    success: { status: 200, description: '{"conversions": [...], "nextCursor"}' },
  },
  'POST /v1/conversions/oci/{conversionId}/retract': {
    summary: 'Retract a conversion at Google exactly once',
    auth: 'operator',
    success: { status: 202, description: 'the conversion' },
  },
  'PUT /v1/work-queues/{queueType}/members/{userId}': {
    summary: 'A user joins a work queue (idempotent while the stay lasts)',
    auth: 'operator',
    success: { status: 200, description: '{"stayId", "created"}' },
  },
  'DELETE /v1/work-queues/{queueType}/members/{userId}': {
    summary: 'A user leaves a work queue for another reason',
    auth: 'operator',
    success: { status: 200, description: 'the stay' },
  },
  'GET /v1/work-queues/{queueType}/members': {
    summary: "A work queue's current members",
    auth: 'operator',
    query: ['cursor', 'limit'],
    success: {
      status: 200,
      description: '{"members": [...], "nextCursor"}; limit 1-100 (default 100)',
    },
  },
  'POST /v1/users/{userId}/events': {
    summary: 'Evidence that a user converted (idempotent by eventId)',
    auth: 'operator',
    success: { status: 202, description: 'accepted' },
  },
  'POST /v1/work-queues/{queueType}/validate': {
    summary: 'Pre-call validation: remove users who no longer belong, log their conversions',
    auth: 'operator',
    success: { status: 200, description: '{"removed": [...], "conversionsLogged": n}' },
  },
  'GET /v1/conversions': {
    summary: 'Logged conversions, at most one per user, type and stay',
    auth: 'operator',
    query: ['userId', 'type', 'source', 'cursor', 'limit'],
    success: {
      status: 200,
      description: '{"conversions": [...], "nextCursor"}; limit 1-100 (default 100)',
    },
  },
  'GET /v1/conversions/missing': {
    summary: 'What the reconciliation would log now (dry run)',
    auth: 'operator',
    success: { status: 200, description: '{"missing": [...]}' },
  },
};

const SECURITY: Record<Exclude<Auth, 'none'>, Record<string, unknown>> = {
  admin: { type: 'http', scheme: 'bearer', description: 'The platform admin key' },
  operator: { type: 'http', scheme: 'bearer', description: "A tenant's apiKey" },
  exportToken: { type: 'http', scheme: 'bearer', description: "A tenant's exportToken" },
  webhookToken: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Webhook-Token',
    description: "A tenant's webhookToken (or ?token=)",
  },
  hubSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Hub-Signature-256',
    description: 'sha256=<hex HMAC-SHA256 of the raw body with the Meta app secret>',
  },
};

function jsonSchema(schema: z.core.$ZodType): unknown {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

export function routeKey(method: HttpMethod | string, path: string): string {
  return `${method} ${path}`;
}

/** The manifest's routes with a path (API Gateway's `$default` catch-all answers 404 and is no operation). */
export function documentedRoutes(): ReturnType<typeof httpRoutes> {
  return httpRoutes().filter((route) => route.path.startsWith('/'));
}

/** The manifest's routes that `ROUTE_DOCS` does not describe (a test keeps this empty). */
export function undocumentedRoutes(): string[] {
  return documentedRoutes()
    .map((r) => routeKey(r.method, r.path))
    .filter((key) => !ROUTE_DOCS[key]);
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of documentedRoutes()) {
    const doc = ROUTE_DOCS[routeKey(route.method, route.path)];
    const pathParams = [...route.path.matchAll(/\{([^}+]+)\+?\}/g)].map((m) => m[1] as string);
    const parameters = [
      ...pathParams.map((name) => ({
        name,
        in: 'path',
        required: true,
        schema: { type: 'string', minLength: 1, maxLength: 256 },
      })),
      ...(doc?.query ?? []).map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
      // Declared per route in the manifest (`idempotencyKey: 'honoured'`).
      ...(route.idempotencyKey === 'honoured'
        ? [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 255 } }]
        : []),
    ];
    const operation: Record<string, unknown> = {
      operationId: route.functionName,
      summary: doc?.summary ?? route.functionName,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(doc?.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(doc.body) } },
            },
          }
        : {}),
      responses: {
        [String(doc?.success.status ?? 200)]: { description: doc?.success.description ?? 'OK' },
        '4XX': {
          description: 'The contract error shape',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
      ...(doc && doc.auth !== 'none' ? { security: [{ [doc.auth]: [] }] } : { security: [] }),
    };
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'onceflow HTTP API',
      version: '1',
      description: 'Exactly-once effects for messaging and conversion platforms. See docs/api.md.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: { Error: jsonSchema(errorSchema) },
      securitySchemes: SECURITY,
    },
  };
}
