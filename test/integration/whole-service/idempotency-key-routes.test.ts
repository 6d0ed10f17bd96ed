/**
 * `Idempotency-Key` on every POST route that creates something (api.md, Conventions), driven
 * through the manifest's own routes served by the local HTTP adapter over DynamoDB Local and the SQS
 * emulator. For each route the manifest declares `idempotencyKey: 'honoured'` (a route without a
 * scenario here fails the suite, so a new route cannot be forgotten):
 *
 * - a retry with the same key and body answers the first answer again (same status, same body),
 *   where a retry without the key would not (a second effect, or another answer);
 * - the same key with another body is 409 `idempotency_key_mismatch`, and changes nothing;
 * - concurrent retries with one key are one effect: each answer is the first one or 409
 *   `request_in_progress` (race trials, requests fired together in shuffled orders).
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaignKeys } from '../../../functions/campaigns/index.js';
import { DynamoEventsStore } from '../../../functions/events/events-store.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import { keys as ledgerKeys } from '../../../functions/ledger/items.js';
import { createHttpAdapter } from '../../../lib/local/http-adapter.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { createHandlerLoader } from '../../../lib/local/lambda.js';
import { PROJECT_ROOT } from '../../../lib/local/runtime.js';
import { httpRoutes } from '../../../lib/manifest.js';
import { type CallAnswer, callJson } from '../../support/http-client.js';
import { raceTrials } from '../../support/race.js';
import { testGoogleAds, testPhoneNumberId, testTenant } from '../../support/test-tenant.js';
import { foldCaughtUp } from '../campaigns/shared-fold.js';
import { depsAhead } from '../ledger/ledger-support.js';

let server: Server;
let baseUrl: string;

interface Tenant {
  readonly tenantId: string;
  readonly apiKey: string;
  readonly phoneNumberId: string;
}

async function newTenant(): Promise<Tenant> {
  const phoneNumberId = testPhoneNumberId();
  const { tenantId, apiKey } = await testTenant(
    { whatsapp: { phoneNumberIds: [phoneNumberId] }, googleAds: testGoogleAds('script') },
    { idPrefix: 'idem' },
  );
  return { tenantId, apiKey, phoneNumberId };
}

function post(tenant: Tenant, path: string, body: unknown, key?: string): Promise<CallAnswer> {
  return callJson(`${baseUrl}${path}`, 'POST', {
    token: tenant.apiKey,
    body,
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });
}

const get = (tenant: Tenant, path: string) =>
  callJson(`${baseUrl}${path}`, 'GET', { token: tenant.apiKey });

/** One route's world: the request, another body for it, and how many effects it has had. */
interface Prepared {
  readonly path: string;
  readonly body: unknown;
  readonly otherBody: unknown;
  /** The effect the key must keep single (campaigns created, evidence stored, ...). */
  effects(): Promise<number>;
}

const phone = () => `+97250${randomInt(1_000_000, 9_999_999)}`;
const CLICK = () => `Cj0KCQ${randomUUID().replace(/-/g, '')}`;

async function campaign(tenant: Tenant, recipients: string[]): Promise<string> {
  const created = await post(tenant, '/v1/campaigns', {
    name: 'Spring',
    template: { name: 'spring_sale', language: 'en_US' },
    phoneNumberId: tenant.phoneNumberId,
    recipients: recipients.map((p) => ({ phone: p })),
  });
  expect(created.status).toBe(201);
  return created.json.campaignId;
}

async function call(tenant: Tenant): Promise<string> {
  const callId = `call-${randomUUID().slice(0, 8)}`;
  const answer = await post(tenant, '/v1/calls', {
    callId,
    sessionId: `s-${callId}`,
    gclid: CLICK(),
    source: 'click',
    occurredAt: new Date(Date.now() - 3600_000).toISOString(),
  });
  expect(answer.status).toBe(201);
  return callId;
}

/** Messages in the tenant's conversations (replies: the tenant has no inbound ones here). */
async function repliesTo(tenant: Tenant): Promise<number> {
  const listed = (await get(tenant, '/v1/conversations')).json.conversations as Array<{
    messageCount: number;
  }>;
  return listed.reduce((sum, c) => sum + c.messageCount, 0);
}

/** Items of a partition with a sort key prefix, read strongly consistently. */
async function countItems(table: string, pk: string, skPrefix: string): Promise<number> {
  const out = await ddb.send(
    new QueryCommand({
      TableName: tableName(table as 'ledger'),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
      ExpressionAttributeValues: { ':pk': pk, ':sk': skPrefix },
      ConsistentRead: true,
    }),
  );
  return out.Count ?? 0;
}

/**
 * Every route the manifest says honours the key, with a world in which a retry without the key
 * would have a second effect or another answer.
 */
const scenarios: Record<string, (tenant: Tenant) => Promise<Prepared>> = {
  // Without a key every create is a new campaign.
  'POST /v1/campaigns': async (tenant) => {
    const body = (name: string) => ({
      name,
      template: { name: 'spring_sale', language: 'en_US' },
      phoneNumberId: tenant.phoneNumberId,
      recipients: [{ phone: phone() }],
    });
    return {
      path: '/v1/campaigns',
      body: body('Spring'),
      otherBody: body('Autumn'),
      effects: async () => (await get(tenant, '/v1/campaigns')).json.campaigns.length,
    };
  },
  // Without a key the second page answers `added: 0`.
  'POST /v1/campaigns/{campaignId}/recipients': async (tenant) => {
    const id = await campaign(tenant, [phone()]);
    const page = [phone(), phone()];
    return {
      path: `/v1/campaigns/${id}/recipients`,
      body: { recipients: page.map((p) => ({ phone: p })) },
      otherBody: { recipients: [{ phone: phone() }] },
      // Totals are folded from the change feed: read once it is folded.
      effects: async () => {
        await foldCaughtUp();
        return (await get(tenant, `/v1/campaigns/${id}`)).json.totals.recipients === 3 ? 1 : 0;
      },
    };
  },
  // A repeat rings the contact's doorbell again (a crashed retry continues); the key replays.
  'POST /v1/campaigns/{campaignId}/recipients/{phone}/retry': async (tenant) => {
    const contact = phone();
    const id = await campaign(tenant, [contact]);
    // The contact's send ended unknown (the state a lost answer leaves after the window).
    await ddb.send(
      new UpdateCommand({
        TableName: tableName('campaigns'),
        Key: campaignKeys.recipient(tenant.tenantId, id, contact),
        UpdateExpression: 'SET #s = :unknown',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':unknown': 'unknown' },
      }),
    );
    return {
      path: `/v1/campaigns/${id}/recipients/${encodeURIComponent(contact)}/retry`,
      body: undefined,
      otherBody: { note: 'again' },
      effects: async () => {
        const listed = await get(tenant, `/v1/campaigns/${id}/recipients`);
        return listed.json.recipients.filter((r: { status: string }) => r.status === 'pending')
          .length;
      },
    };
  },
  // A reply is one per key (without a key it is 400): each key a new message in the conversation.
  'POST /v1/messages': async (tenant) => {
    const to = phone();
    const body = (name: string) => ({ to: { phone: to }, template: { name, language: 'en_US' } });
    return {
      path: '/v1/messages',
      body: body('follow_up'),
      otherBody: body('other_template'),
      effects: () => repliesTo(tenant),
    };
  },
  'POST /v1/conversations/{conversationId}/messages': async (tenant) => {
    const opened = await post(
      tenant,
      '/v1/messages',
      { to: { phone: phone() }, template: { name: 'hello', language: 'en_US' } },
      `open-${randomUUID()}`,
    );
    expect(opened.status).toBe(202);
    const { conversationId } = (await get(tenant, `/v1/messages/${opened.json.messageId}`)).json;
    const body = (name: string) => ({ template: { name, language: 'en_US' } });
    return {
      path: `/v1/conversations/${conversationId}/messages`,
      body: body('follow_up'),
      otherBody: body('other_template'),
      effects: async () => (await repliesTo(tenant)) - 1,
    };
  },
  // Without a key the retry answers 200, not the first 201 (the callId alone keeps one call).
  'POST /v1/calls': async () => {
    const callId = `call-${randomUUID().slice(0, 8)}`;
    const body = (sessionId: string) => ({
      callId,
      sessionId,
      gclid: 'Cj0KCQ-fixed-click',
      source: 'click',
      occurredAt: new Date(Date.now() - 3600_000).toISOString(),
    });
    return {
      path: '/v1/calls',
      body: body(`s-${callId}`),
      otherBody: body(`s-other-${callId}`),
      effects: async () => 1,
    };
  },
  // Without a key the second seal answers `enqueued: false, reason: duplicate_session`.
  'POST /v1/calls/{callId}/seal': async (tenant) => {
    const callId = await call(tenant);
    const body = (value: number) => ({
      value,
      currency: 'USD',
      conversionTime: new Date().toISOString(),
    });
    return {
      path: `/v1/calls/${callId}/seal`,
      body: body(100),
      otherBody: body(200),
      effects: async () =>
        (await get(tenant, '/v1/conversions/oci')).json.conversions.filter(
          (c: { callId: string }) => c.callId === callId,
        ).length,
    };
  },
  'POST /v1/conversions/oci/{conversionId}/retract': async (tenant) => {
    const callId = await call(tenant);
    const sealed = await post(tenant, `/v1/calls/${callId}/seal`, {
      value: 10,
      currency: 'USD',
      conversionTime: new Date().toISOString(),
    });
    expect(sealed.status).toBe(200);
    const conversionId = sealed.json.conversionId;
    return {
      path: `/v1/conversions/oci/${conversionId}/retract`,
      body: undefined,
      otherBody: { reason: 'other' },
      effects: async () =>
        (await get(tenant, '/v1/conversions/oci')).json.conversions.filter(
          (c: { conversionId: string; retractedAt: string | null }) =>
            c.conversionId === conversionId && c.retractedAt,
        ).length,
    };
  },
  // Without a key and without an eventId, every POST stores new evidence.
  'POST /v1/users/{userId}/events': async (tenant) => {
    const userId = `u-${randomUUID().slice(0, 8)}`;
    const occurredAt = new Date().toISOString();
    return {
      path: `/v1/users/${userId}/events`,
      body: { type: 'signature_obtained', occurredAt },
      otherBody: { type: 'requirements_completed', occurredAt },
      effects: () => {
        const evidence = ledgerKeys.evidenceOfUser(tenant.tenantId, userId);
        return countItems('ledger', evidence.pk, evidence.skPrefix);
      },
    };
  },
  // Without a key the second validation finds nobody left to remove.
  'POST /v1/work-queues/{queueType}/validate': async (tenant) => {
    const userId = `u-${randomUUID().slice(0, 8)}`;
    const joined = await callJson(
      `${baseUrl}/v1/work-queues/unsigned_users/members/${userId}`,
      'PUT',
      { token: tenant.apiKey },
    );
    expect(joined.status).toBe(200);
    // Evidence stored whose event path crashed before applying it: validation finds it.
    const { store, clock } = depsAhead(0);
    const now = new Date(clock.now()).toISOString();
    await store.putEvidence({
      tenantId: tenant.tenantId,
      userId,
      type: 'signature_obtained',
      evidenceId: 'e:manual',
      eventId: 'manual',
      occurredAt: now,
      effectiveAt: now,
      receivedAt: now,
      state: 'pending',
    });
    return {
      path: '/v1/work-queues/unsigned_users/validate',
      body: { userIds: [userId] },
      otherBody: { userIds: [userId, 'someone-else'] },
      effects: async () =>
        (await get(tenant, `/v1/conversions?userId=${userId}`)).json.conversions.length,
    };
  },
  // Without a key every replay is another attempt cycle: the events delivered again once more.
  'POST /v1/event-endpoints/{endpointId}/replay': async (tenant) => {
    const endpointId = `ep-${randomUUID().slice(0, 8)}`;
    const put = await callJson(`${baseUrl}/v1/event-endpoints/${endpointId}`, 'PUT', {
      token: tenant.apiKey,
      body: { url: 'https://93.184.216.34/hooks', eventTypes: ['*'] },
    });
    expect(put.status).toBe(200);
    const occurredAt = new Date(Date.now() - 60_000).toISOString();
    await new DynamoEventsStore(ddb, tableName('events')).logEvent({
      eventId: `evt_${randomUUID().replaceAll('-', '')}`,
      tenantId: tenant.tenantId,
      type: 'message.received',
      entityKey: 'conversation:c_idem',
      occurredAt,
      data: { tenantId: tenant.tenantId },
    });
    return {
      path: `/v1/event-endpoints/${endpointId}/replay`,
      body: { since: occurredAt },
      otherBody: { since: new Date(Date.parse(occurredAt) - 1000).toISOString() },
      effects: async () => {
        const page = await get(tenant, `/v1/event-endpoints/${endpointId}/attempts?limit=200`);
        const cycles = (page.json.attempts as { cycle: string }[]).map((a) => a.cycle);
        return new Set(cycles.filter((c) => c.startsWith('r:'))).size;
      },
    };
  },
};

const honoured = httpRoutes()
  .filter((route) => route.idempotencyKey === 'honoured')
  .map((route) => `${route.method} ${route.path}`);

beforeAll(async () => {
  const log = () => {};
  server = createHttpAdapter({
    loader: createHandlerLoader({ projectRoot: PROJECT_ROOT, log }),
    log,
  });
  baseUrl = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  await closeServer(server);
});

describe('Idempotency-Key on every creating POST route', () => {
  it('has a scenario for every route the manifest declares honoured', () => {
    expect(honoured.length).toBeGreaterThanOrEqual(8);
    expect(honoured.filter((route) => !scenarios[route])).toEqual([]);
  });

  for (const route of honoured) {
    describe(route, () => {
      const prepare = async () => {
        const tenant = await newTenant();
        const scenario = scenarios[route];
        if (!scenario) throw new Error(`no scenario for ${route}`);
        return { tenant, ...(await scenario(tenant)) };
      };

      it('a retry with the same key replays the first answer; another body is 409 mismatch', async () => {
        const world = await prepare();
        const key = `key-${randomUUID()}`;
        const first = await post(world.tenant, world.path, world.body, key);
        expect(first.status).toBeLessThan(300);
        const before = await world.effects();
        expect(before).toBe(1);

        const again = await post(world.tenant, world.path, world.body, key);
        const mismatch = await post(world.tenant, world.path, world.otherBody, key);

        expect({ status: again.status, body: again.json }).toEqual({
          status: first.status,
          body: first.json,
        });
        expect(mismatch.status).toBe(409);
        expect(mismatch.json.error.code).toBe('idempotency_key_mismatch');
        expect(await world.effects()).toBe(1);
      });

      it('concurrent retries with one key are one effect, each answer the first or in progress', async () => {
        const report = await raceTrials({
          trials: 3,
          setup: async () => ({ world: await prepare(), key: `key-${randomUUID()}` }),
          contenders: ({ world, key }) =>
            Array.from({ length: 4 }, () => () => post(world.tenant, world.path, world.body, key)),
          check: async ({ world, key }, outcomes) => {
            const answers = outcomes.map((o) => {
              if (o.status !== 'fulfilled') throw o.reason;
              return o.value as CallAnswer;
            });
            const done = answers.filter((a) => a.status !== 409);
            const inProgress = answers.filter((a) => a.status === 409);
            for (const a of inProgress) expect(a.json.error.code).toBe('request_in_progress');
            // Once settled, a retry replays the one answer every finished contender got.
            const settled = await post(world.tenant, world.path, world.body, key);
            for (const a of [...done, settled]) {
              expect({ status: a.status, body: a.json }).toEqual({
                status: settled.status,
                body: settled.json,
              });
            }
            expect(settled.status).toBeLessThan(300);
            expect(await world.effects()).toBe(1);
          },
          maxStaggerMs: 5,
        });
        expect(report.failures).toEqual([]);
      });
    });
  }
});
