/**
 * Campaign counters folded from the change feed (`functions/campaigns/counter-fold.ts`), exactly
 * once per stream record, over DynamoDB Local's own stream and the local poller (Lambda's event
 * source mapping): every transition counted once across many campaigns in one batch; a batch given
 * again (its ack lost), or given twice at once, adds nothing; two pollers of one shard with different
 * batch sizes fold each record once; a shard whose write failed makes the batch come again from it
 * and the shards folded before it are not counted twice; counts folded per shard before the fold
 * groups are moved in once, neither lost nor counted twice when their records come again.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { foldSeqOf } from '../../../functions/campaigns/campaign-store-fold.js';
import { type FoldedCounters, foldCounters } from '../../../functions/campaigns/counter-fold.js';
import {
  FOLD_GROUPS,
  foldSeqAttribute,
  keys,
  parseFoldedCounter,
  SHARDS,
  shardsOfGroup,
} from '../../../functions/campaigns/items.js';
import { sumTotals } from '../../../functions/campaigns/model.js';
import { batchGetAll } from '../../../functions/kernel/batch-get.js';
import { streamConsumer } from '../../../functions/kernel/stream-consumer.js';
import type { LambdaHandler } from '../../../lib/local/lambda.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';
import { raceTrials } from '../../support/race.js';
import { ddb, poll, stopPollers } from '../events/feed-support.js';
import { foldedTotals, foldHandler, foldWorld, listedTotals } from './fold-support.js';

afterEach(stopPollers);

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
    // The records as the poller hands them over, nothing folded yet.
    const given: DynamoDBStreamEvent[] = [];
    const collect: LambdaHandler = async (event) => {
      given.push(event as DynamoDBStreamEvent);
      return { batchItemFailures: [] };
    };
    await (await poll(world.table, collect, { batchSize: 7 })).drained();
    expect(given.length).toBeGreaterThan(3);

    // The fold as it wrote before the groups: one `CF#…#<shard>` item a shard, `foldSeq` its guard.
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
              Key: keys.foldedCounter(world.tenantId, id, shard),
              UpdateExpression: `SET foldSeq = :last${fields.length ? ` ADD ${fields.map((_, i) => `#f${i} :f${i}`).join(', ')}` : ''}`,
              ConditionExpression: 'attribute_not_exists(foldSeq) OR foldSeq < :first',
              ExpressionAttributeNames: fields.length
                ? Object.fromEntries(fields.map((f, i) => [`#f${i}`, f]))
                : undefined,
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
    const before = streamConsumer({
      name: 'foldCampaignCounters',
      handle: (changes) => foldCounters(changes, { folded: perShard, clock: world.deps.clock }),
    });
    const half = Math.ceil(given.length / 2);
    for (const event of given.slice(0, half)) await before(event, fakeLambdaContext());
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
    for (const event of given) await fold.handler(event, fakeLambdaContext());
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

  it('folds of one group at once, for different shards (two stream shards) or the same in different batches (two readers), count each record once', async () => {
    const report = await raceTrials({
      trials: 12,
      setup: async () => {
        const world = await foldWorld();
        const id = await world.campaign(16);
        const given: DynamoDBStreamEvent[] = [];
        const collect: LambdaHandler = async (event) => {
          given.push(event as DynamoDBStreamEvent);
          return { batchItemFailures: [] };
        };
        await (await poll(world.table, collect, { batchSize: 100 })).drained();
        // Each shard's records as a stream shard of its own would hand them over.
        const records = given.flatMap((e) => e.Records);
        const byShard = new Map<string, typeof records>();
        for (const record of records) {
          const pk = String(record.dynamodb?.Keys?.pk?.S ?? '');
          if (!pk.startsWith('CR#')) continue;
          byShard.set(pk, [...(byShard.get(pk) ?? []), record]);
        }
        return { world, id, streams: [...byShard.values()], fold: foldHandler(world) };
      },
      contenders: ({ streams, fold }) =>
        // Each shard's records as three readers of it hand them over, each in order: whole, whole
        // again, and in two batches (a reader refused part-way keeps only what lies past what it
        // saw, on condition that it still holds).
        streams.flatMap((records) => {
          const give = (Records: typeof records) => fold.handler({ Records }, fakeLambdaContext());
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
      check: async ({ world, id, streams }) => {
        expect(streams.length).toBeGreaterThan(4);
        expect(await foldedTotals(world, id)).toEqual(await listedTotals(world, id));
      },
    });
    expect(report.failures).toEqual([]);
  });
});
