/**
 * `npx onceflow reconcile counters [--execute]` against DynamoDB Local: drift introduced by hand in
 * the counter items is reported by the dry run (which writes nothing), repaired by `--execute`, and
 * the totals then equal the recipient listing; a repair racing recipient transitions still ends
 * with totals equal to the listing (its writes are conditioned on the counters not moving).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import type { CampaignDeps } from '../../../functions/campaigns/campaign-store.js';
import { counterWrite } from '../../../functions/campaigns/campaign-store-counters.js';
import { repairCampaignCounters } from '../../../functions/campaigns/counter-repair.js';
import { keys, shardOf } from '../../../functions/campaigns/items.js';
import { createCampaign } from '../../../functions/campaigns/lifecycle.js';
import { emptyTotals, type Totals } from '../../../functions/campaigns/model.js';
import { listRecipients } from '../../../functions/campaigns/recipient-pages.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { retryOnConflict } from '../../../functions/kernel/retry.js';
import { transition } from '../../../functions/kernel/transition.js';
import type { Tenant } from '../../../functions/tenants/tenant-store.js';
import { raceTrials } from '../../support/race.js';
import { testTenantStore } from '../../support/tenant-store.js';
import { cli } from '../cli/cli-support.js';
import { createTenant } from '../conversations/inbound-support.js';
import { testCampaignStore } from './campaign-support.js';

const _run = promisify(execFile);
const _endpoints = inject('onceflowEndpoints');
const _port = (url: string) => new URL(url).port;
const deps: CampaignDeps = { store: testCampaignStore(), clock: systemClock };
const table = () => tableName('campaigns');
const readTotals = (tenantId: string, campaignId: string) =>
  deps.store.counters.totals(tenantId, campaignId);

const phones = (n: number) =>
  Array.from({ length: n }, (_, i) => `+97250${String(10_000_000 + i).slice(1)}`);

async function campaignWith(count: number): Promise<{ tenant: Tenant; campaignId: string }> {
  const t = await createTenant('IL');
  const tenant = (await testTenantStore().get(t.tenantId, { consistent: true })) as Tenant;
  const campaignId = `cmp_repair_${Math.random().toString(36).slice(2)}`;
  await createCampaign(deps, tenant, campaignId, {
    name: 'Repair',
    template: { name: 'spring_sale', language: 'en_US' },
    phoneNumberId: t.phoneNumberId,
    recipients: phones(count).map((phone) => ({ phone })),
  });
  return { tenant, campaignId };
}

/** pending → sent for one contact, with its counter, as the send path does. */
function markSent(tenantId: string, campaignId: string, phone: string) {
  return retryOnConflict(() =>
    transition(ddb, {
      table: table(),
      key: keys.recipient(tenantId, campaignId, phone),
      from: ['pending'],
      to: 'sent',
      set: { providerMessageId: `wamid.${phone}` },
      with: [counterWrite(table(), tenantId, campaignId, shardOf(phone), { pending: -1, sent: 1 })],
    }),
  );
}

/** The totals the listing shows: every recipient, by status. */
async function listedTotals(tenantId: string, campaignId: string): Promise<Totals> {
  const totals = emptyTotals();
  let cursor: string | undefined;
  do {
    const page = await listRecipients(deps, tenantId, campaignId, {
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    for (const r of page.recipients) {
      totals.recipients += 1;
      totals[r.status] += 1;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return totals;
}

/** Drift by hand: what a bug or an edited counter item would leave. */
async function addToCounter(
  tenantId: string,
  campaignId: string,
  shard: number,
  part: number,
  field: string,
  n: number,
) {
  await ddb.send(
    new UpdateCommand({
      TableName: table(),
      Key: keys.counter(tenantId, campaignId, shard, part),
      UpdateExpression: 'ADD #f :n',
      ExpressionAttributeNames: { '#f': field },
      ExpressionAttributeValues: { ':n': n },
    }),
  );
}

describe('onceflow reconcile counters', () => {
  it('dry run reports drift and writes nothing; --execute repairs it; totals then equal the listing', async () => {
    // Prepare: 40 contacts, 10 sent; then +3 sent in one shard and -2 pending in another.
    const { tenant, campaignId } = await campaignWith(40);
    for (const phone of phones(10)) await markSent(tenant.tenantId, campaignId, phone);
    const [p1, p2] = [phones(40)[0] as string, phones(40)[1] as string];
    const s1 = shardOf(p1);
    const s2 = shardOf(p2) === s1 ? (s1 + 1) % 32 : shardOf(p2);
    await addToCounter(tenant.tenantId, campaignId, s1, 1, 'sent', 3);
    await addToCounter(tenant.tenantId, campaignId, s2, 2, 'pending', -2);
    const drifted = await readTotals(tenant.tenantId, campaignId);
    const scope = ['--tenant', tenant.tenantId, '--campaign', campaignId];

    // Act
    const dry = await cli('reconcile', 'counters', ...scope);
    const afterDry = await readTotals(tenant.tenantId, campaignId);
    const execute = await cli('reconcile', 'counters', '--execute', ...scope);
    const repaired = await readTotals(tenant.tenantId, campaignId);
    const again = await cli('reconcile', 'counters', '--tenant', tenant.tenantId);

    // Assess
    expect(dry.code).toBe(0);
    expect(dry.json).toMatchObject({ execute: false, drift: 5 });
    expect(dry.json.campaigns[0].shards.map((s: { shard: number }) => s.shard).sort()).toEqual(
      [s1, s2].sort(),
    );
    expect(afterDry).toEqual(drifted);
    expect(execute.code).toBe(0);
    expect(execute.json).toMatchObject({ execute: true, drift: 5 });
    expect(execute.json.campaigns[0]).toMatchObject({ unsettledShards: 0 });
    const listed = await listedTotals(tenant.tenantId, campaignId);
    expect(listed).toMatchObject({ recipients: 40, pending: 30, sent: 10 });
    expect(repaired).toEqual(listed);
    expect(again.json).toMatchObject({ drift: 0, campaigns: [{ campaignId, drift: 0 }] });
  });

  it('a repair racing recipient transitions still leaves totals equal to the listing', async () => {
    await raceTrials({
      trials: 4,
      setup: async () => {
        const { tenant, campaignId } = await campaignWith(24);
        // Drift in several shards, so the repair has writes to race.
        for (const phone of phones(6)) {
          await addToCounter(tenant.tenantId, campaignId, shardOf(phone), 0, 'sent', 1);
        }
        return { tenantId: tenant.tenantId, campaignId };
      },
      contenders: ({ tenantId, campaignId }) => [
        () => repairCampaignCounters(deps, { tenantId, campaignId }, true),
        ...phones(24)
          .slice(6, 18)
          .map((phone) => () => markSent(tenantId, campaignId, phone)),
      ],
      check: async ({ tenantId, campaignId }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(outcomes.map(() => 'fulfilled'));
        const listed = await listedTotals(tenantId, campaignId);
        expect(listed).toMatchObject({ recipients: 24, sent: 12, pending: 12 });
        expect(await readTotals(tenantId, campaignId)).toEqual(listed);
      },
    });
  });
});
