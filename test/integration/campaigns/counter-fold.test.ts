/**
 * Campaign counters folded from the change feed (`functions/campaigns/counter-fold.ts`), exactly
 * once per stream record, over DynamoDB Local's own stream and the local poller (Lambda's event
 * source mapping): every transition counted once across many campaigns in one batch; a batch given
 * again (its ack lost), or given twice at once, adds nothing; two pollers of one shard with different
 * batch sizes fold each record once; a shard whose write failed makes the batch come again from it
 * and the shards folded before it are not counted twice; counts folded per shard before the fold
 * groups are moved in once, neither lost nor counted twice when their records come again.
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { foldSeqOf } from '../../../functions/campaigns/campaign-store-fold.js';
import { type FoldedCounters, foldCounters } from '../../../functions/campaigns/counter-fold.js';
import { repairCampaignCounters } from '../../../functions/campaigns/counter-repair.js';
import {
  FOLD_GROUPS,
  foldSeqAttribute,
  keys,
  parseFoldedCounter,
  SHARDS,
  shardsOfGroup,
} from '../../../functions/campaigns/items.js';
import { sumTotals } from '../../../functions/campaigns/model.js';
import { FOLD_LAG_BOUND_MS } from '../../../functions/campaigns/reconcile-counters.js';
import { batchGetAll } from '../../../functions/kernel/batch-get.js';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { streamConsumer } from '../../../functions/kernel/stream-consumer.js';
import type { LambdaHandler } from '../../../lib/local/lambda.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';
import { raceTrials } from '../../support/race.js';
import { ddb, poll, stopPollers } from '../events/feed-support.js';
import {
  type FoldWorld,
  foldAsBeforeGroups,
  foldedTotals,
  foldHandler,
  foldWorld,
  listedTotals,
  recordsByRecipientShard,
  streamEvents,
} from './fold-support.js';

afterEach(stopPollers);

/**
 * A campaign of 16 contacts moved on, its recipients' stream records one list a shard (as a stream
 * shard of its own would hand them over) and the fold; with `halfBeforeGroups`, the first half of
 * the records folded first as before the fold groups (born items deleted).
 */
async function shardRaceWorld({ halfBeforeGroups }: { halfBeforeGroups: boolean }) {
  const world = await foldWorld();
  const id = await world.campaign(16);
  const records = (await streamEvents(world, 100)).flatMap((e) => e.Records);
  if (halfBeforeGroups) {
    await foldAsBeforeGroups(world, id, [
      { Records: records.slice(0, Math.ceil(records.length / 2)) },
    ]);
  }
  return { world, id, streams: recordsByRecipientShard(records), fold: foldHandler(world) };
}

/** Hands `records` to the fold as one batch, expecting every record folded. */
function giveTo(fold: ReturnType<typeof foldHandler>) {
  return async (Records: DynamoDBRecord[]) =>
    expect(await fold.handler({ Records }, fakeLambdaContext())).toEqual({
      batchItemFailures: [],
    });
}

/** A repair's deps with the clock past the fold's lag bound (every group quiet), and its scope. */
function repairAfterLagBound(world: FoldWorld, campaignId: string) {
  return {
    later: {
      store: world.deps.store,
      clock: new ManualClock(world.deps.clock.now() + FOLD_LAG_BOUND_MS + 5000),
    },
    scope: { tenantId: world.tenantId, campaignId },
  };
}

describe('campaign counters folded from the change feed', () => {
  it('counts every recipient transition of many campaigns once: folded totals equal the listing', async () => {
    const world = await foldWorld();
    const ids = [await world.campaign(9), await world.campaign(5), await world.campaign(7)];
    const fold = foldHandler(world);
    await (await poll(world.table, fold.handler, { batchSize: 100 })).drained();

    for (const id of ids) {
      const listed = await listedTotals(world, id);
      expect(listed.recipients).toBeGreaterThan(0);
      expect(await foldedTotals(world, id)).toEqual(listed);
      // What GET /v1/campaigns/{id} answers (the store's totals) is these folded counts.
      expect(await world.deps.store.counters.totals(world.tenantId, id)).toEqual(listed);
    }
  });

  it('a campaign created now is born with its fold groups: the fold and readers never look for old per-shard counts, and no fold write is refused', async () => {
    const world = await foldWorld();
    const id = await world.campaign(14);
    const given = await streamEvents(world, 7);
    const seen: string[] = [];
    let refused = 0;
    const name = 'recordFoldRequests';
    ddb.middlewareStack.add(
      (next, context) => async (args) => {
        const request = JSON.stringify(args.input);
        if (request.includes(`#${id}#`)) seen.push(`${context.commandName} ${request}`);
        try {
          return await next(args);
        } catch (error) {
          if ((error as Error).name === 'ConditionalCheckFailedException') refused += 1;
          throw error;
        }
      },
      { step: 'initialize', name },
    );
    try {
      const fold = foldHandler(world);
      for (const event of given) {
        expect(await fold.handler(event, fakeLambdaContext())).toEqual({ batchItemFailures: [] });
      }
      expect(await world.deps.store.counters.totals(world.tenantId, id)).toEqual(
        await listedTotals(world, id),
      );
    } finally {
      ddb.middlewareStack.remove(name);
    }
    expect(seen.some((r) => r.includes('"CG#'))).toBe(true);
    expect(seen.filter((r) => r.includes('"CF#'))).toEqual([]);
    expect(refused).toBe(0);
  });

  it('adds nothing when a batch comes again after its ack was lost, or twice at once', async () => {
    const world = await foldWorld();
    const id = await world.campaign(12);
    const fold = foldHandler(world);
    await (await poll(world.table, fold.handler, { batchSize: 10 })).drained();
    const listed = await listedTotals(world, id);
    expect(await foldedTotals(world, id)).toEqual(listed);
    const given = [...fold.events];
    expect(given.length).toBeGreaterThan(1);

    // Every batch handed over again, one after another, then all of them at once (twice each).
    for (const event of given) await fold.handler(event, fakeLambdaContext());
    await Promise.all(
      [...given, ...given].map((event) => fold.handler(event, fakeLambdaContext())),
    );
    expect(await foldedTotals(world, id)).toEqual(listed);
  });

  it('two pollers of one shard with different batch sizes fold each record once', async () => {
    const report = await raceTrials({
      trials: 3,
      setup: async () => {
        const world = await foldWorld();
        const ids = [await world.campaign(8), await world.campaign(6)];
        return { world, ids, fold: foldHandler(world) };
      },
      contenders: ({ world, fold }) =>
        [3, 7, 100].map((batchSize) => async () => {
          await (await poll(world.table, fold.handler, { batchSize })).drained();
        }),
      check: async ({ world, ids }) => {
        for (const id of ids) {
          expect(await foldedTotals(world, id)).toEqual(await listedTotals(world, id));
        }
      },
    });
    expect(report.failures).toEqual([]);
    // 5.7 s alone; 19-25 s in a clean-clone CI run with every project at once (DynamoDB Local's
    // stream reads share the JVM with the other files' writes), past 120 s with two CI runs on the
    // machine (each batch of 3 records ~1 s). A bound against a hang, not a timing claim.
  }, 300_000);

  it('a fold group whose write fails makes the batch come again from it; groups folded before it are not counted twice', async () => {
    const world = await foldWorld();
    const ids = [await world.campaign(6), await world.campaign(6)];
    const real = world.deps.store.folded;
    let refused = 0;
    // The second campaign's first writes fail: the other campaign's groups
    // in the same batch were folded, and come again with the rest of the batch.
    const flaky: FoldedCounters = {
      groups: (t, c) => real.groups(t, c),
      async fold(group, byShard) {
        if (group.campaignId === ids[1] && refused < 3) {
          refused += 1;
          throw new Error('throttled');
        }
        return real.fold(group, byShard);
      },
    };
    const consumer = streamConsumer({
      name: 'foldCampaignCounters',
      handle: (changes) => foldCounters(changes, { folded: flaky, clock: world.deps.clock }),
    });
    const handler: LambdaHandler = (event, context) => consumer(event as never, context);
    await (await poll(world.table, handler, { batchSize: 100, retryAttempts: 5 })).drained();

    expect(refused).toBe(3);
    for (const id of ids) {
      expect(await foldedTotals(world, id)).toEqual(await listedTotals(world, id));
    }
  });

  it('counts folded per shard before the groups are moved in once: none lost, none counted twice when their records come again', async () => {
    const world = await foldWorld();
    const id = await world.campaign(14);
    const given = await streamEvents(world, 7);
    expect(given.length).toBeGreaterThan(3);
    // The first half folded as before the groups: one `CF#…#<shard>` item a shard.
    await foldAsBeforeGroups(world, id, given.slice(0, Math.ceil(given.length / 2)));
    const oldItems = (
      await batchGetAll(
        ddb,
        world.table,
        Array.from({ length: SHARDS }, (_, shard) => keys.foldedCounter(world.tenantId, id, shard)),
      )
    ).map(parseFoldedCounter);
    expect(oldItems.length).toBeGreaterThan(1);
    // Before any group write, readers see the old counts.
    expect(await foldedTotals(world, id)).toEqual(sumTotals(oldItems.map((o) => o.totals)));

    // Deployed: the fold in groups, given every record again from the first (the old half comes
    // again, as a batch whose ack was lost at the switch would), then all of them twice at once.
    const fold = foldHandler(world);
    for (const event of given) {
      expect(await fold.handler(event, fakeLambdaContext())).toEqual({ batchItemFailures: [] });
    }
    const listed = await listedTotals(world, id);
    expect(await foldedTotals(world, id)).toEqual(listed);
    await Promise.all([...given, ...given].map((e) => fold.handler(e, fakeLambdaContext())));
    expect(await foldedTotals(world, id)).toEqual(listed);
    // Every shard with an old item was moved into its group (its old counts no longer added).
    for (let group = 0; group < FOLD_GROUPS; group++) {
      const raw = (
        await batchGetAll(ddb, world.table, [keys.foldedGroup(world.tenantId, id, group)])
      )[0];
      for (const shard of shardsOfGroup(group)) {
        if (oldItems.some((o) => o.shard === shard)) {
          expect(raw?.[foldSeqAttribute(shard)]).toEqual(expect.any(String));
        }
      }
    }
  });

  it('a shard with old counts is moved in by a write whose other shard is in its group already', async () => {
    // Two shards of group 0 folded as before the groups (5 pending each, up to record 100).
    const world = await foldWorld();
    const { tenantId } = world;
    const campaignId = `cmp_movein_${Math.random().toString(36).slice(2)}`;
    for (const shard of [0, 1]) {
      await ddb.send(
        new PutCommand({
          TableName: world.table,
          Item: {
            ...keys.foldedCounter(tenantId, campaignId, shard),
            recipients: 5,
            pending: 5,
            foldSeq: foldSeqOf('100000000000000000100'),
          },
        }),
      );
    }
    const folded = world.deps.store.folded;
    const group = { tenantId, campaignId, group: 0 };
    const sent = (seq: string) => ({ sequenceNumber: seq, deltas: { pending: -1, sent: 1 } });
    expect(sumTotals(await folded.groups(tenantId, campaignId))).toMatchObject({ pending: 10 });

    // Shard 0 moved in alone; then one write of shard 0 (in) and shard 1 (not yet).
    await folded.fold(group, new Map([[0, [sent('100000000000000000200')]]]));
    // Shard 0 held by the group, shard 1 not: its old counts still read.
    expect(sumTotals(await folded.groups(tenantId, campaignId))).toMatchObject({
      recipients: 10,
      pending: 9,
      sent: 1,
    });
    await folded.fold(
      group,
      new Map([
        [0, [sent('100000000000000000300')]],
        [1, [sent('100000000000000000301')]],
      ]),
    );

    expect(sumTotals(await folded.groups(tenantId, campaignId))).toMatchObject({
      recipients: 10,
      pending: 7,
      sent: 3,
    });
  });

  it('a reader given a batch past what it folded folds the rest, and fails nothing', async () => {
    const world = await foldWorld();
    const id = await world.campaign(6);
    const records = (await streamEvents(world, 100)).flatMap((e) => e.Records);
    const fold = foldHandler(world);
    // One shard's records: the first two, then the first three (a retry that picked up one more),
    // then all of them.
    // The recipient shard with the most records.
    const ofShard = recordsByRecipientShard(records).sort((a, b) => b.length - a.length)[0] ?? [];
    expect(ofShard.length).toBeGreaterThan(2);
    for (const Records of [ofShard.slice(0, 2), ofShard.slice(0, 3), records]) {
      expect(await fold.handler({ Records }, fakeLambdaContext())).toEqual({
        batchItemFailures: [],
      });
    }
    expect(await foldedTotals(world, id)).toEqual(await listedTotals(world, id));
  });

  it('a repair of a group whose shards still have old counts moves them in: neither the old counts nor their records come twice', async () => {
    const world = await foldWorld();
    const id = await world.campaign(14);
    const given = await streamEvents(world, 7);
    await foldAsBeforeGroups(world, id, given);
    const listed = await listedTotals(world, id);
    expect(await foldedTotals(world, id)).toEqual(listed);
    // Drift by hand on one old item (a record lost to the DLQ before the groups).
    const [first] = (
      await batchGetAll(
        ddb,
        world.table,
        Array.from({ length: SHARDS }, (_, shard) => keys.foldedCounter(world.tenantId, id, shard)),
      )
    ).map(parseFoldedCounter);
    await ddb.send(
      new UpdateCommand({
        TableName: world.table,
        Key: keys.foldedCounter(world.tenantId, id, first?.shard ?? 0),
        UpdateExpression: 'ADD #f :n',
        ExpressionAttributeNames: { '#f': 'sent' },
        ExpressionAttributeValues: { ':n': 2 },
      }),
    );
    expect(await foldedTotals(world, id)).not.toEqual(listed);

    const { later, scope } = repairAfterLagBound(world, id);
    expect(await repairCampaignCounters(later, scope, true)).toMatchObject({
      drift: 2,
      unsettledShards: 0,
    });
    expect(await foldedTotals(world, id)).toEqual(listed);
    // The old records come again (a batch whose ack was lost at the switch), into the groups.
    const fold = foldHandler(world);
    for (const event of given) await fold.handler(event, fakeLambdaContext());
    expect(await foldedTotals(world, id)).toEqual(listed);
    expect((await repairCampaignCounters(later, scope, false)).drift).toBe(0);
  });

  it('a campaign created before the groups, half folded per shard: readers racing to move its shards in count each record and each old count once', async () => {
    const report = await raceTrials({
      trials: 6,
      // The first half of the records folded as before the groups (born items deleted).
      setup: () => shardRaceWorld({ halfBeforeGroups: true }),
      contenders: ({ streams, fold }) =>
        streams.flatMap((records) => {
          const give = giveTo(fold);
          return [async () => give(records), async () => give(records)];
        }),
      check: async ({ world, id }, outcomes) => {
        for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 'fulfilled' });
        expect(await foldedTotals(world, id)).toEqual(await listedTotals(world, id));
      },
    });
    expect(report.failures).toEqual([]);
  }, 300_000);

  it('a repair with --execute moves the quiet groups of a campaign created before its groups were born with it: counts unchanged, old keys no longer read', async () => {
    const world = await foldWorld();
    const id = await world.campaign(14);
    await foldAsBeforeGroups(world, id, await streamEvents(world, 7));
    const listed = await listedTotals(world, id);
    const { later, scope } = repairAfterLagBound(world, id);
    // A dry run moves nothing.
    expect(await repairCampaignCounters(later, scope, false)).toMatchObject({
      drift: 0,
      movedInGroups: 0,
    });
    const readsOldKeys = async () => {
      let named = false;
      const name = 'recordOldKeyReads';
      ddb.middlewareStack.add(
        (next) => async (args) => {
          if (JSON.stringify(args.input).includes(`"CF#${world.tenantId}#${id}#`)) named = true;
          return next(args);
        },
        { step: 'initialize', name },
      );
      try {
        expect(await foldedTotals(world, id)).toEqual(listed);
      } finally {
        ddb.middlewareStack.remove(name);
      }
      return named;
    };
    expect(await readsOldKeys()).toBe(true);

    const repair = await repairCampaignCounters(later, scope, true);

    expect(repair).toMatchObject({ drift: 0, movedInGroups: FOLD_GROUPS, unsettledShards: 0 });
    expect(await readsOldKeys()).toBe(false);
    // Nothing left to move in, nothing counted twice when the records come again.
    expect((await repairCampaignCounters(later, scope, true)).movedInGroups).toBe(0);
    const fold = foldHandler(world);
    for (const event of await streamEvents(world, 7))
      await fold.handler(event, fakeLambdaContext());
    expect(await foldedTotals(world, id)).toEqual(listed);
  });

  it('folds of one group at once, for different shards (two stream shards) or the same in different batches (two readers), count each record once', async () => {
    const report = await raceTrials({
      trials: 8,
      // Each shard's records as a stream shard of its own would hand them over.
      setup: () => shardRaceWorld({ halfBeforeGroups: false }),
      contenders: ({ streams, fold }) =>
        // Each shard's records as three readers of it hand them over, each in order: whole, whole
        // again, and in two batches (a reader refused part-way keeps only what lies past what it
        // saw, on condition that it still holds).
        streams.flatMap((records) => {
          const give = giveTo(fold);
          const mid = Math.ceil(records.length / 2);
          return [
            async () => give(records),
            async () => give(records),
            async () => {
              await give(records.slice(0, mid));
              if (mid < records.length) await give(records.slice(mid));
            },
          ];
        }),
      check: async ({ world, id, streams }, outcomes) => {
        expect(streams.length).toBeGreaterThan(4);
        // No reader failed a record (a refusal is an answer, never an error).
        for (const outcome of outcomes) {
          expect(outcome).toMatchObject({ status: 'fulfilled' });
        }
        expect(await foldedTotals(world, id)).toEqual(await listedTotals(world, id));
      },
    });
    expect(report.failures).toEqual([]);
    // ~8 s alone; a clean-clone CI run with every project at once took past 30 s. A bound against
    // a hang, not a timing claim.
  }, 300_000);
});
