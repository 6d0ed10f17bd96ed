/**
 * Malformed and hostile deliveries to the three webhooks (wrong types, huge strings, deep nesting,
 * bad signatures, other tenants' tokens) → always a 4xx, never a 5xx, and nothing stored.
 */

import type { SQSClient } from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ghlSmsSchema } from '../../../functions/webhooks/ghl-sms.js';
import { handler as ghl } from '../../../functions/webhooks/handlers/receive-ghl-sms.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { handler as whatsappWeb } from '../../../functions/webhooks/handlers/receive-whatsapp-web.js';
import { cloudWebhookSchema } from '../../../functions/webhooks/whatsapp-cloud.js';
import {
  gatewayEnvelopeSchema,
  upsertDataSchema,
} from '../../../functions/webhooks/whatsapp-web.js';
import { testSqsClient } from '../../support/emulators.js';
import {
  cloudCall,
  cloudText,
  createTenant,
  ghlPayload,
  type HttpCall,
  invoke,
  privateJobsQueue,
  type TestTenant,
  tenantConversations,
  tokenCall,
  webPayload,
} from '../conversations/inbound-support.js';

let sqs: SQSClient;
let victim: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
  victim = await createTenant();
  other = await createTenant();
});

afterAll(async () => {
  // Nothing any hostile delivery did left a trace.
  expect(await tenantConversations(victim.tenantId)).toEqual([]);
  sqs.destroy();
});

const RUNS = 40;

function deep(depth: number): unknown {
  let value: unknown = 'x';
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

/** Values that are never what a validated field wants. */
const hostile = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant('x'.repeat(20_000)),
  fc.constant(deep(500)),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);

/** Sets `path` of a JSON clone to `value`. */
function mutate(payload: unknown, path: readonly (string | number)[], value: unknown): unknown {
  const clone = JSON.parse(JSON.stringify(payload)) as Record<string | number, unknown>;
  let cursor = clone;
  for (const key of path.slice(0, -1)) cursor = cursor[key] as Record<string | number, unknown>;
  cursor[path[path.length - 1] as string] = value;
  return clone;
}

async function expect4xx(call: HttpCall, handler: Parameters<typeof invoke>[0]) {
  const answer = await invoke(handler, call);
  expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
  expect(answer.status, answer.text).toBeLessThan(500);
  return answer;
}

describe('POST /webhooks/whatsapp under hostile input', () => {
  const valid = () => JSON.parse(cloudText(victim, { wamid: 'wamid.fuzz' }));
  const paths: Array<Array<string | number>> = [
    ['object'],
    ['entry'],
    ['entry', 0, 'changes'],
    ['entry', 0, 'changes', 0, 'value'],
    ['entry', 0, 'changes', 0, 'value', 'metadata', 'phone_number_id'],
    ['entry', 0, 'changes', 0, 'value', 'messages'],
    ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'id'],
    ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'text', 'body'],
    ['entry', 0, 'changes', 0, 'value', 'contacts'],
  ];

  it('validly signed, malformed bodies → 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), hostile, async (path, value) => {
        const payload = mutate(valid(), path, value);
        // Only malformed payloads: a mutation the contract allows (an empty list) is not hostile.
        fc.pre(!cloudWebhookSchema.safeParse(payload).success);
        await expect4xx(cloudCall(JSON.stringify(payload)), whatsapp);
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary JSON and non-JSON, signed → 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string(),
        ),
        async (raw) => {
          const answer = await invoke(whatsapp, cloudCall(raw));
          // An empty but well-formed envelope is a valid no-op; anything else must be refused.
          if (answer.status === 200) expect(answer.json).toMatchObject({ received: 0, deduped: 0 });
          else expect(answer.status).toBeLessThan(500);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('bad signatures and oversized bodies → 401 / 413', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), async (signature) => {
        const call = cloudCall(cloudText(victim, { wamid: 'wamid.fuzz' }));
        const answer = await expect4xx(
          { ...call, headers: { ...call.headers, 'x-hub-signature-256': signature } },
          whatsapp,
        );
        expect(answer.status).toBe(401);
      }),
      { numRuns: RUNS },
    );
    const huge = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [],
      pad: 'x'.repeat(1_100_000),
    });
    expect((await expect4xx(cloudCall(huge), whatsapp)).status).toBe(413);
  });
});

describe('POST /webhooks/ghl/sms under hostile input', () => {
  const paths = [
    ['contact_id'],
    ['location'],
    ['location', 'id'],
    ['message', 'body'],
    ['phone'],
    ['customData', 'Message'],
  ];

  it('malformed bodies with the right token → 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), hostile, async (path, value) => {
        const payload = mutate(ghlPayload(victim), path, value);
        fc.pre(!ghlSmsSchema.safeParse(payload).success || path[0] === 'phone');
        fc.pre(!(path[0] === 'phone' && value === null));
        const body = JSON.stringify(payload);
        await expect4xx(tokenCall('/webhooks/ghl/sms', body, victim.webhookToken), ghl);
      }),
      { numRuns: RUNS },
    );
  });

  it('other tenants’ tokens, wrong tokens and no token → 401', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(fc.string({ minLength: 1, maxLength: 100 }), { nil: undefined }),
        async (token) => {
          const body = JSON.stringify(ghlPayload(victim));
          const answer = await expect4xx(tokenCall('/webhooks/ghl/sms', body, token), ghl);
          expect(answer.status).toBe(401);
        },
      ),
      { numRuns: RUNS },
    );
    const body = JSON.stringify(ghlPayload(victim));
    expect(
      (await expect4xx(tokenCall('/webhooks/ghl/sms', body, other.webhookToken), ghl)).status,
    ).toBe(401);
  });
});

describe('POST /webhooks/whatsapp-web under hostile input', () => {
  const valid = () => webPayload(victim, { remoteJid: '972501234567@s.whatsapp.net', id: 'FUZZ' });
  const paths = [
    ['instance'],
    ['data'],
    ['data', 'key'],
    ['data', 'key', 'id'],
    ['data', 'key', 'remoteJid'],
    ['data', 'message', 'conversation'],
  ];

  it('malformed bodies with the right token → 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), hostile, async (path, value) => {
        const payload = mutate(valid(), path, value) as { data?: unknown };
        fc.pre(
          !gatewayEnvelopeSchema.safeParse(payload).success ||
            !upsertDataSchema.safeParse(payload.data).success,
        );
        const body = JSON.stringify(payload);
        await expect4xx(
          tokenCall('/webhooks/whatsapp-web', body, victim.webhookToken),
          whatsappWeb,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('another tenant’s token → 401', async () => {
    const body = JSON.stringify(valid());
    expect(
      (await expect4xx(tokenCall('/webhooks/whatsapp-web', body, other.webhookToken), whatsappWeb))
        .status,
    ).toBe(401);
  });
});

describe('operator routes of conversations, leads and jobs under hostile input', () => {
  const routes = async () => ({
    lead: (await import('../../../functions/conversations/handlers/put-lead.js')).handler,
    conversations: (await import('../../../functions/conversations/handlers/list-conversations.js'))
      .handler,
    messages: (await import('../../../functions/conversations/handlers/list-messages.js')).handler,
    jobs: (await import('../../../functions/conversations/handlers/list-jobs.js')).handler,
  });
  const id = fc.oneof(
    fc.string({ minLength: 0, maxLength: 300 }),
    fc.constant('x'.repeat(257)),
    fc.constant('../../../etc'),
    fc.constant('#CONV#'),
    fc.constant('m_0000'),
  );
  const auth = (t: TestTenant) => ({ authorization: `Bearer ${t.apiKey}` });

  it('PUT /v1/leads/{leadId}: hostile ids and bodies → never a 5xx; a 257-char id is 400', async () => {
    const { lead } = await routes();
    const body = fc.oneof(
      hostile,
      fc.record({ phones: fc.array(fc.oneof(fc.string(), hostile), { maxLength: 25 }) }),
      fc.record({ name: hostile, phones: fc.constant(['+972501234567']) }),
      fc.constant({ phones: Array.from({ length: 20 }, (_, i) => `+9725012340${10 + i}`) }),
    );
    await fc.assert(
      fc.asyncProperty(id, body, async (leadId, value) => {
        const answer = await invoke(lead, {
          method: 'PUT',
          routeKey: 'PUT /v1/leads/{leadId}',
          path: '/v1/leads/x',
          headers: { ...auth(other), 'content-type': 'application/json' },
          pathParameters: { leadId },
          body: JSON.stringify(value),
        });
        expect(answer.status, answer.text).toBeLessThan(500);
        if (leadId.length === 0 || leadId.length > 256) expect(answer.status).toBe(400);
      }),
      { numRuns: RUNS },
    );
  });

  it('GET conversations, messages and jobs: hostile cursors, limits and ids → never a 5xx', async () => {
    const { conversations, messages, jobs } = await routes();
    const query = fc.record(
      {
        cursor: fc.oneof(
          fc.string({ maxLength: 100 }),
          fc.constant(Buffer.from('{"t":"x","b":1}').toString('base64url')),
          fc.constant(Buffer.from(JSON.stringify({ t: 'y', b: 'z' })).toString('base64url')),
          fc.constant('x'.repeat(5000)),
        ),
        limit: fc.oneof(fc.string({ maxLength: 5 }), fc.constant('1e3'), fc.constant('-1')),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(id, query, async (anyId, q) => {
        const answers = await Promise.all([
          invoke(conversations, {
            method: 'GET',
            routeKey: 'GET /v1/conversations',
            path: '/v1/conversations',
            headers: auth(victim),
            query: q,
          }),
          invoke(messages, {
            method: 'GET',
            routeKey: 'GET /v1/conversations/{conversationId}/messages',
            path: '/x',
            headers: auth(victim),
            pathParameters: { conversationId: anyId },
            query: q,
          }),
          invoke(jobs, {
            method: 'GET',
            routeKey: 'GET /v1/messages/{messageId}/jobs',
            path: '/x',
            headers: auth(victim),
            pathParameters: { messageId: anyId },
          }),
        ]);
        for (const answer of answers) expect(answer.status, answer.text).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
  });
});
