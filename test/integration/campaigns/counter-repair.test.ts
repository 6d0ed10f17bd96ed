/**
 * `npx onceflow reconcile counters [--execute]` against DynamoDB Local: drift introduced by hand in
 * the folded counts is reported by the dry run (which writes nothing), repaired by `--execute`, and
 * the totals then equal the recipient listing; a repair racing recipient transitions repairs only
 * fold groups it can conclude on (left alone for the fold's lag bound, the fold not moving meanwhile),
 * so nothing merely not yet folded is "repaired" and counted twice.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import type { CampaignDeps } from '../../../functions/campaigns/campaign-store.js';
import {
  type CampaignRepair,
  repairCampaignCounters,
} from '../../../functions/campaigns/counter-repair.js';
import { foldGroupOf, keys, shardOf } from '../../../functions/campaigns/items.js';
import { createCampaign } from '../../../functions/campaigns/lifecycle.js';
import { emptyTotals, type Totals } from '../../../functions/campaigns/model.js';
import { listRecipients } from '../../../functions/campaigns/recipient-pages.js';
import { FOLD_LAG_BOUND_MS } from '../../../functions/campaigns/reconcile-counters.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { ManualClock, systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { transition } from '../../../functions/kernel/transition.js';
import type { Tenant } from '../../../functions/tenants/tenant-store.js';
import { raceTrials } from '../../support/race.js';
import { testTenantStore } from '../../support/tenant-store.js';
import { cli } from '../cli/cli-support.js';
import { createTenant } from '../conversations/inbound-support.js';
import { testCampaignStore } from './campaign-support.js';
import { foldCaughtUp } from './shared-fold.js';

const _run = promisify(execFile);
const _endpoints = inject('onceflowEndpoints');
const _port = (url: string) => new URL(url).port;
const store = testCampaignStore();
/**
 * The campaigns here were written two lag bounds ago (their recipients' `updatedAt`), so that the
 * CLI (on the system clock) finds their shards quiet once the feed is folded.
 */
const earlier = () => new ManualClock(Date.now() - 2 * FOLD_LAG_BOUND_MS);
const deps: CampaignDeps = { store, clock: systemClock };
const table = () => tableName('campaigns');
/** Totals once the feed is folded. */
const readTotals = async (tenantId: string, campaignId: string) => {
  await foldCaughtUp();
  return store.counters.totals(tenantId, campaignId);
};

const phones = (n: number) =>
  Array.from({ length: n }, (_, i) => `+97250${String(10_000_000 + i).slice(1)}`);

async function campaignWith(count: number): Promise<{ tenant: Tenant; campaignId: string }> {
  const t = await createTenant('IL');
  const tenant = (await testTenantStore().get(t.tenantId, { consistent: true })) as Tenant;
  const campaignId = `cmp_repair_${Math.random().toString(36).slice(2)}`;
  await createCampaign({ store, clock: earlier() }, tenant, campaignId, {
    name: 'Repair',
    template: { name: 'spring_sale', language: 'en_US' },
    phoneNumberId: t.phoneNumberId,
    recipients: phones(count).map((phone) => ({ phone })),
  });
  return { tenant, campaignId };
}

/** pending → sent for one contact, as the send path does: one conditional write, `updatedAt` set. */
function markSent(tenantId: string, campaignId: string, phone: string, at: number) {
  return transition(ddb, {
    table: table(),
    key: keys.recipient(tenantId, campaignId, phone),
    from: ['pending'],
    to: 'sent',
    set: { providerMessageId: `wamid.${phone}`, updatedAt: new Date(at).toISOString() },
  });
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

/** Drift by hand: what a bug, a record lost to the DLQ or an edited folded item would leave. */
async function addToFolded(
  tenantId: string,
  campaignId: string,
  shard: number,
  field: string,
  n: number,
) {
  await ddb.send(
    new UpdateCommand({
      TableName: table(),
      Key: keys.foldedGroup(tenantId, campaignId, foldGroupOf(shard)),
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
    const at = earlier().now();
    for (const phone of phones(10)) await markSent(tenant.tenantId, campaignId, phone, at);
    const s1 = shardOf(phones(40)[0] as string);
    // In the other fold group: both groups drift.
    const s2 = (s1 + 16) % 32;
    // The feed folded first: the drift is added to what the fold wrote.
    await foldCaughtUp();
    await addToFolded(tenant.tenantId, campaignId, s1, 'sent', 3);
    await addToFolded(tenant.tenantId, campaignId, s2, 'pending', -2);
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
    expect(dry.json.campaigns[0].groups.map((g: { group: number }) => g.group).sort()).toEqual(
      [foldGroupOf(s1), foldGroupOf(s2)].sort(),
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

  it('a repair racing recipient transitions repairs only what it can conclude on; totals then equal the listing', async () => {
    const report = await raceTrials({
      trials: 4,
      setup: async () => {
        const { tenant, campaignId } = await campaignWith(24);
        await foldCaughtUp();
        // Drift in several shards (+1 sent each), so the repair has writes to race; by group.
        const handDrift = new Map<number, number>();
        for (const phone of phones(6)) {
          await addToFolded(tenant.tenantId, campaignId, shardOf(phone), 'sent', 1);
          const group = foldGroupOf(shardOf(phone));
          handDrift.set(group, (handDrift.get(group) ?? 0) + 1);
        }
        return { tenantId: tenant.tenantId, campaignId, handDrift };
      },
      contenders: ({ tenantId, campaignId }) => [
        () => repairCampaignCounters(deps, { tenantId, campaignId }, true),
        ...phones(24)
          .slice(6, 18)
          .map((phone) => () => markSent(tenantId, campaignId, phone, Date.now())),
      ],
      check: async ({ tenantId, campaignId, handDrift }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(outcomes.map(() => 'fulfilled'));
        const raced = (outcomes[0] as PromiseFulfilledResult<CampaignRepair>).value;
        const listed = await listedTotals(tenantId, campaignId);
        expect(listed).toMatchObject({ recipients: 24, sent: 12, pending: 12 });
        // Once the feed is folded and the groups are quiet: exactly the hand drift the racing
        // repair left alone remains (it repaired nothing it could not conclude on, so it counted
        // no transition twice and lost none).
        await foldCaughtUp();
        const later = { store, clock: new ManualClock(Date.now() + FOLD_LAG_BOUND_MS + 1000) };
        const repairedGroups = new Set(raced.groups.filter((g) => g.repaired).map((g) => g.group));
        const left = [...handDrift].filter(([group]) => !repairedGroups.has(group));
        const dry = await repairCampaignCounters(later, { tenantId, campaignId }, false);
        expect(dry).toMatchObject({ inconclusiveShards: 0 });
        expect(dry.drift).toBe(left.reduce((n, [, drift]) => n + drift, 0));
        expect(dry.groups.map((g) => g.group).sort()).toEqual(left.map(([g]) => g).sort());
        // And the repair run again settles it.
        expect(await repairCampaignCounters(later, { tenantId, campaignId }, true)).toMatchObject({
          unsettledShards: 0,
        });
        expect(await readTotals(tenantId, campaignId)).toEqual(listed);
      },
    });
    expect(report.failures).toEqual([]);
  });

  it('a shard written within the lag bound is not compared: the dry run reports it inconclusive, --execute leaves it unsettled', async () => {
    // Prepare: recipients written just now (the system clock), the feed folded, drift by hand.
    const t = await createTenant('IL');
    const tenant = (await testTenantStore().get(t.tenantId, { consistent: true })) as Tenant;
    const campaignId = `cmp_repair_${Math.random().toString(36).slice(2)}`;
    await createCampaign(deps, tenant, campaignId, {
      name: 'Recent',
      template: { name: 'spring_sale', language: 'en_US' },
      phoneNumberId: t.phoneNumberId,
      recipients: phones(3).map((phone) => ({ phone })),
    });
    const shard = shardOf(phones(3)[0] as string);
    await foldCaughtUp();
    await addToFolded(tenant.tenantId, campaignId, shard, 'sent', 1);
    const before = await readTotals(tenant.tenantId, campaignId);

    // Act
    const dry = await repairCampaignCounters(
      deps,
      { tenantId: tenant.tenantId, campaignId },
      false,
    );
    const execute = await repairCampaignCounters(
      deps,
      { tenantId: tenant.tenantId, campaignId },
      true,
    );

    // Assess: nothing concluded, nothing written; a lag bound later it is repaired.
    expect(dry).toMatchObject({ drift: 0, unsettledShards: 0 });
    expect(dry.inconclusiveShards).toBeGreaterThanOrEqual(1);
    expect(execute.unsettledShards).toBeGreaterThanOrEqual(1);
    expect(await readTotals(tenant.tenantId, campaignId)).toEqual(before);
    const later = { store, clock: new ManualClock(Date.now() + FOLD_LAG_BOUND_MS + 1000) };
    expect(
      await repairCampaignCounters(later, { tenantId: tenant.tenantId, campaignId }, true),
    ).toMatchObject({ drift: 1, unsettledShards: 0 });
    expect(await readTotals(tenant.tenantId, campaignId)).toEqual(
      await listedTotals(tenant.tenantId, campaignId),
    );
  });
});
