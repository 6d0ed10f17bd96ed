/**
 * `GET /v1/campaigns` against DynamoDB Local: a tenant's campaigns newest first, cursor-paginated
 * from its listing partition (written in the campaign-create transaction, so concurrent retries of
 * one create list it once), never another tenant's; progress (sends/s since start, ETA, contacts
 * awaiting evidence) from the folded counts (read once the feed is folded) and the sending sweep
 * partitions.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { listCampaigns } from '../../../functions/campaigns/campaign-listing.js';
import { keys, shardOf } from '../../../functions/campaigns/items.js';
import { createCampaign, markRunning } from '../../../functions/campaigns/lifecycle.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { transition } from '../../../functions/kernel/transition.js';
import type { Tenant } from '../../../functions/tenants/tenant-store.js';
import { raceTrials } from '../../support/race.js';
import { testTenantStore } from '../../support/tenant-store.js';
import {
  apiCall,
  createTenant,
  type HttpResult,
  invoke,
  type TestTenant,
} from '../conversations/inbound-support.js';
import { type TestCampaignDeps, testCampaignStore } from './campaign-support.js';
import { foldCaughtUp } from './shared-fold.js';

const { handler: listHandler } = await import(
  '../../../functions/campaigns/handlers/list-campaigns.js'
);

const TEMPLATE = { name: 'spring_sale', language: 'en_US' };
let clock: ManualClock;
let deps: TestCampaignDeps;
const table = () => tableName('campaigns');

beforeAll(() => {
  clock = new ManualClock(Date.now());
  deps = { store: testCampaignStore(), clock };
});

async function tenantPair(): Promise<{ test: TestTenant; tenant: Tenant }> {
  const test = await createTenant('IL');
  return {
    test,
    tenant: (await testTenantStore().get(test.tenantId, { consistent: true })) as Tenant,
  };
}

const phones = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `+97250${String(10_000_000 + from + i).slice(1)}`);

async function create(t: { test: TestTenant; tenant: Tenant }, id: string, recipients = 3) {
  await createCampaign(deps, t.tenant, id, {
    name: `Campaign ${id}`,
    template: TEMPLATE,
    phoneNumberId: t.test.phoneNumberId,
    recipients: phones(recipients).map((phone) => ({ phone })),
  });
}

function list(apiKey: string, query: Record<string, string> = {}): Promise<HttpResult> {
  return invoke(
    listHandler,
    apiCall(apiKey, { method: 'GET', routeKey: 'GET /v1/campaigns', path: '/v1/campaigns', query }),
  );
}

describe('GET /v1/campaigns', () => {
  it('lists the tenant’s campaigns newest first, page by page, and never another tenant’s', async () => {
    // Prepare: three campaigns for A a second apart, one for B.
    const a = await tenantPair();
    const b = await tenantPair();
    const ids = ['cmp_list_a1', 'cmp_list_a2', 'cmp_list_a3'].map(
      (id) => `${id}_${a.test.tenantId}`,
    );
    for (const id of ids) {
      await create(a, id);
      clock.advance(1000);
    }
    await create(b, `cmp_list_b1_${b.test.tenantId}`);
    // Totals are folded from the change feed: listed once it is folded.
    await foldCaughtUp();

    // Act
    const first = await list(a.test.apiKey, { limit: '2' });
    const second = await list(a.test.apiKey, {
      limit: '2',
      cursor: String(first.json.nextCursor),
    });
    const ofB = await list(b.test.apiKey);
    const foreignCursor = await list(b.test.apiKey, { cursor: String(first.json.nextCursor) });
    const badLimit = await list(a.test.apiKey, { limit: '0' });

    // Assess
    const idsOf = (r: HttpResult) =>
      (r.json.campaigns as Array<{ campaignId: string }>).map((c) => c.campaignId);
    expect(first.status).toBe(200);
    expect(idsOf(first)).toEqual([ids[2], ids[1]]);
    expect(idsOf(second)).toEqual([ids[0]]);
    expect(second.json.nextCursor).toBeNull();
    expect(idsOf(ofB)).toEqual([`cmp_list_b1_${b.test.tenantId}`]);
    expect(foreignCursor.status).toBe(400);
    expect(foreignCursor.json).toMatchObject({ error: { details: [{ field: 'cursor' }] } });
    expect(badLimit.status).toBe(400);
    const one = (first.json.campaigns as Array<Record<string, unknown>>)[0];
    expect(one).toMatchObject({
      status: 'draft',
      totals: { recipients: 3, pending: 3 },
      progress: { sendsPerSecond: 0, configuredRate: 80, etaSeconds: null, awaitingEvidence: 0 },
    });
  });

  it('concurrent retries of one create (same id) list the campaign exactly once', async () => {
    const t = await tenantPair();
    await raceTrials({
      trials: 6,
      setup: () => ({ id: `cmp_race_${Math.random().toString(36).slice(2)}` }),
      contenders: ({ id }) => Array.from({ length: 5 }, () => () => create(t, id, 2)),
      check: async ({ id }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(outcomes.map(() => 'fulfilled'));
        const out = await ddb.send(
          new QueryCommand({
            TableName: table(),
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': keys.listingPartition(t.tenant.tenantId) },
            ConsistentRead: true,
          }),
        );
        expect((out.Items ?? []).filter((i) => i.campaignId === id)).toHaveLength(1);
      },
    });
  });

  it('reports sends/s since start, the ETA of the backlog and the contacts awaiting evidence', async () => {
    // Prepare: 10 contacts, started 10 s ago; 4 sent, 1 sending for 60 s without a wamid (its
    // answer was lost), 1 sending for 1 s (its call still in flight).
    const t = await tenantPair();
    const id = `cmp_progress_${t.test.tenantId}`;
    await create(t, id, 10);
    await markRunning(deps, t.tenant.tenantId, id);
    const startedAt = clock.now();
    const contacts = phones(10);
    const move = async (phone: string, to: 'sending' | 'sent', sendingSinceMs: number) => {
      const shard = shardOf(phone);
      await transition(ddb, {
        table: table(),
        key: keys.recipient(t.tenant.tenantId, id, phone),
        from: ['pending'],
        to,
        set:
          to === 'sending'
            ? {
                sendingSince: new Date(sendingSinceMs).toISOString(),
                sweepPk: keys.sendingSweep(t.tenant.tenantId, id, shard),
                sweepAt: new Date(sendingSinceMs + 600_000).toISOString(),
              }
            : { providerMessageId: `wamid.${phone}` },
      });
    };
    for (const phone of contacts.slice(0, 4)) await move(phone, 'sent', startedAt);
    await move(contacts[4] as string, 'sending', startedAt - 50_000);
    await move(contacts[5] as string, 'sending', startedAt + 9_000);
    clock.advance(10_000);
    await foldCaughtUp();

    // Act
    const page = await listCampaigns(deps, t.tenant.tenantId, {
      limit: 10,
      configuredRate: 80,
      providerTimeoutSeconds: 10,
    });

    // Assess: 6 contacts went through a send in 10 s; 4 pending at 0.6/s.
    expect(page.campaigns).toHaveLength(1);
    expect(page.campaigns[0]).toMatchObject({
      campaignId: id,
      status: 'running',
      totals: { recipients: 10, pending: 4, sent: 4, sending: 2 },
      progress: { sendsPerSecond: 0.6, configuredRate: 80, etaSeconds: 7, awaitingEvidence: 1 },
    });
  });
});
