/**
 * The counter fold's test harness: a fresh table with the campaigns layout and stream (so a poller
 * reads only this test's records), campaigns created and moved by the campaigns store itself, the
 * real stream edge and fold around it, and the local stream poller reading DynamoDB Local's stream
 * (`feed-support.ts`'s). Shared by `counter-fold.test.ts` and `test/crash-matrix/campaign-fold.flow.ts`.
 */
import { randomUUID } from 'node:crypto';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { expect } from 'vitest';
import {
  type CampaignDeps,
  dynamoCampaignStore,
} from '../../../functions/campaigns/campaign-store.js';
import { foldSeqOf } from '../../../functions/campaigns/campaign-store-fold.js';
import { type FoldedCounters, foldCounters } from '../../../functions/campaigns/counter-fold.js';
import { FOLD_GROUPS, keys } from '../../../functions/campaigns/items.js';
import { createCampaign } from '../../../functions/campaigns/lifecycle.js';
import { sumTotals, type Totals } from '../../../functions/campaigns/model.js';
import type { ManualClock } from '../../../functions/kernel/clock.js';
import { streamConsumer } from '../../../functions/kernel/stream-consumer.js';
import type { LambdaHandler } from '../../../lib/local/lambda.js';
import { ensureTable } from '../../../lib/local/provision.js';
import { tables } from '../../../lib/manifest.js';
import { testDynamoDbClient } from '../../support/emulators.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';
import { ddb, poll } from '../events/feed-support.js';
import { campaignWorld, countByStatus, listAll, TEMPLATE } from './campaign-support.js';

export interface FoldWorld {
  readonly table: string;
  readonly deps: CampaignDeps & { readonly clock: ManualClock };
  readonly tenantId: string;
  /** Creates a campaign of `count` contacts on this table and moves some of them on. */
  campaign(count: number): Promise<string>;
}

const phones = (count: number) =>
  Array.from({ length: count }, (_, i) => `+97250${String(10_000_000 + i).slice(1)}`);

/** A tenant and a fresh `campaigns`-shaped table with its stream, the store on it. */
export async function foldWorld(): Promise<FoldWorld> {
  const world = await campaignWorld();
  const table = `fold-${randomUUID().slice(0, 8)}`;
  await ensureTable(testDynamoDbClient(), table, tables.campaigns);
  const deps = { store: dynamoCampaignStore(ddb, table), clock: world.clock };
  return {
    table,
    deps,
    tenantId: world.tenant.tenantId,
    async campaign(count) {
      const id = `cmp_fold_${randomUUID().slice(0, 8)}`;
      const contacts = phones(count);
      await createCampaign(deps, world.tenant, id, {
        name: 'Fold',
        template: TEMPLATE,
        phoneNumberId: world.testTenant.phoneNumberId,
        recipients: contacts.map((phone) => ({ phone })),
      });
      // Moves that each count: claimed (pending → sending), then a third sent with a wamid, a
      // third failed, a third left sending; and one contact claimed, released and claimed again.
      const at = new Date(world.clock.now()).toISOString();
      for (const [i, phone] of contacts.entries()) {
        const ref = { tenantId: world.tenant.tenantId, campaignId: id, phone };
        const claim = { leaseSeconds: 60, now: world.clock.now(), dueAt: at };
        expect(
          await deps.store.recipients.claim(ref, { ...claim, owner: `o${i}`, attemptsSeen: 0 }),
        ).toBe(true);
        if (i % 3 === 0) {
          const wamid = `wamid.${id}.${i}`;
          const accepted = { phoneNumberId: world.testTenant.phoneNumberId, wamid, at };
          expect(await deps.store.recipients.storeWamid(ref, accepted)).toBe(true);
        } else if (i % 3 === 1) {
          const end = { to: 'failed' as const, lastError: 'x', at };
          expect(await deps.store.recipients.endClaim(ref, `o${i}`, end)).toBe(true);
        } else if (i === 2) {
          const back = { to: 'pending' as const, lastError: 'x', at, dueAt: at };
          expect(await deps.store.recipients.endClaim(ref, `o${i}`, back)).toBe(true);
          expect(
            await deps.store.recipients.claim(ref, { ...claim, owner: 'again', attemptsSeen: 1 }),
          ).toBe(true);
        }
      }
      return id;
    },
  };
}

/** The folded totals of a campaign (the sum of its fold groups' counts). */
export async function foldedTotals(world: FoldWorld, campaignId: string): Promise<Totals> {
  return sumTotals(await world.deps.store.folded.groups(world.tenantId, campaignId));
}

/** What the campaign's recipients add up to (the listing) — what folded totals must equal. */
export async function listedTotals(world: FoldWorld, campaignId: string): Promise<Totals> {
  return countByStatus(await listAll(world.deps, world.tenantId, campaignId));
}

/** The real stream edge and counter fold on the world's table; every event handed to it kept. */
export function foldHandler(world: Pick<FoldWorld, 'deps'>) {
  const events: DynamoDBStreamEvent[] = [];
  const consumer = streamConsumer({
    name: 'foldCampaignCounters',
    handle: (changes) =>
      foldCounters(changes, { folded: world.deps.store.folded, clock: world.deps.clock }),
  });
  const handler: LambdaHandler = async (event, context) => {
    events.push(event as DynamoDBStreamEvent);
    return (await consumer(event as DynamoDBStreamEvent, context)) as DynamoDBBatchResponse;
  };
  return { handler, events };
}

/** The world's stream as the poller hands it over in batches of `batchSize`, nothing folded. */
export async function streamEvents(
  world: Pick<FoldWorld, 'table'>,
  batchSize: number,
): Promise<DynamoDBStreamEvent[]> {
  const given: DynamoDBStreamEvent[] = [];
  const collect: LambdaHandler = async (event) => {
    given.push(event as DynamoDBStreamEvent);
    return { batchItemFailures: [] };
  };
  await (await poll(world.table, collect, { batchSize })).drained();
  return given;
}

/** Stream records of recipients, one list a recipient shard (`CR#…` partition key), each in order. */
export function recordsByRecipientShard(records: readonly DynamoDBRecord[]): DynamoDBRecord[][] {
  const byShard = new Map<string, DynamoDBRecord[]>();
  for (const record of records) {
    const pk = String(record.dynamodb?.Keys?.pk?.S ?? '');
    if (pk.startsWith('CR#')) byShard.set(pk, [...(byShard.get(pk) ?? []), record]);
  }
  return [...byShard.values()];
}

/**
 * The fold as it wrote before the fold groups, for one campaign: one `CF#…#<shard>` item a shard,
 * its `foldSeq` the guard (the old adapter's write), given `events` in order. The campaign is made
 * one created before the groups first: its born group items (no counts yet) are deleted, as such a
 * campaign never had them.
 */
export async function foldAsBeforeGroups(
  world: FoldWorld,
  campaignId: string,
  events: readonly DynamoDBStreamEvent[],
): Promise<void> {
  for (let group = 0; group < FOLD_GROUPS; group++) {
    await ddb.send(
      new DeleteCommand({
        TableName: world.table,
        Key: keys.foldedGroup(world.tenantId, campaignId, group),
        // Only as born: nothing folded into it yet.
        ConditionExpression: 'attribute_not_exists(recipients)',
      }),
    );
  }
  const perShard: FoldedCounters = {
    groups: async () => [],
    async fold(_group, byShard) {
      for (const [shard, entries] of byShard) {
        const add: Record<string, number> = {};
        for (const { deltas } of entries) {
          for (const [f, n] of Object.entries(deltas)) add[f] = (add[f] ?? 0) + (n ?? 0);
        }
        const fields = Object.keys(add);
        await ddb.send(
          new UpdateCommand({
            TableName: world.table,
            Key: keys.foldedCounter(world.tenantId, campaignId, shard),
            UpdateExpression: `SET foldSeq = :last${fields.length ? ` ADD ${fields.map((_, i) => `#f${i} :f${i}`).join(', ')}` : ''}`,
            ConditionExpression: 'attribute_not_exists(foldSeq) OR foldSeq < :first',
            ...(fields.length
              ? {
                  ExpressionAttributeNames: Object.fromEntries(fields.map((f, i) => [`#f${i}`, f])),
                }
              : {}),
            ExpressionAttributeValues: {
              ':last': foldSeqOf(entries.at(-1)?.sequenceNumber ?? '0'),
              ':first': foldSeqOf(entries[0]?.sequenceNumber ?? '0'),
              ...Object.fromEntries(fields.map((f, i) => [`:f${i}`, add[f]])),
            },
          }),
        );
      }
      return 0;
    },
  };
  const consumer = streamConsumer({
    name: 'foldCampaignCounters',
    handle: (changes) => foldCounters(changes, { folded: perShard, clock: world.deps.clock }),
  });
  for (const event of events) {
    expect(await consumer(event, fakeLambdaContext())).toEqual({ batchItemFailures: [] });
  }
}
