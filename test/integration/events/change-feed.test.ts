/**
 * The change feed against DynamoDB Local's own streams: the local poller (Lambda's event source
 * mapping), the kernel's stream edge and the change feed's derivation, over effects written by the
 * ledger's own store (`DynamoDbLedgerStore.putConversion`) into a fresh table with the manifest's
 * ledger layout, its stream on.
 *
 * - a record seen again (a second reader from the oldest record, a retried batch) gives the same
 *   event id;
 * - a record the sink refuses fails the batch from that record (`batchItemFailures` names its
 *   sequence number) and the poller gives it again from there, nothing before it;
 * - a record that keeps failing is bisected out, retried to the bound, and described to the DLQ
 *   alone, while the records after it are delivered;
 * - a restart on the same checkpoints gives only what was not handed over (never skips);
 * - two pollers of one shard give each effect one id, and the dispatcher's dedupe by id (a
 *   conditional put) keeps one of each.
 */
import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventSink } from '../../../functions/events/model.js';
import { putOnce } from '../../../functions/kernel/put-once.js';
import { ensureStandardQueue } from '../../../lib/local/provision.js';
import { localQueueUrl } from '../../../lib/local/resources.js';
import { emulatorEndpoints } from '../../support/emulators.js';
import { raceTrials } from '../../support/race.js';
import {
  checkpointFile,
  conversionIds,
  ddb,
  feedHandler,
  ledgerTable,
  logConversions,
  poll,
  recordingSink,
  sequencesOf,
  sqs,
  stopPollers,
} from './feed-support.js';

afterEach(() => stopPollers());

describe('the change feed over DynamoDB Local streams', () => {
  it('gives every committed conversion one event, and the same id when its record is read again', async () => {
    // Prepare
    const { name, store } = await ledgerTable();
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const logged = await logConversions(store, tenantId, 5);
    const first = recordingSink();
    const again = recordingSink();

    // Act: one reader, then a second from the oldest record (a redelivery of every record)
    await (await poll(name, feedHandler(first.sink).handler)).drained();
    await (await poll(name, feedHandler(again.sink).handler)).drained();

    // Assess
    expect(conversionIds(first.accepted)).toEqual(logged.map((c) => c.conversionId));
    expect(first.accepted.every((e) => e.type === 'ledger.conversion.logged')).toBe(true);
    expect(new Set(first.accepted.map((e) => e.eventId)).size).toBe(5);
    expect(again.accepted.map((e) => e.eventId)).toEqual(first.accepted.map((e) => e.eventId));
  });

  it('fails a batch from the record the sink refused, and the poller resumes exactly there', async () => {
    // Prepare: the sink refuses the third conversion's event once
    const { name, store } = await ledgerTable();
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const logged = await logConversions(store, tenantId, 5);
    const third = logged[2]?.conversionId;
    const { sink, accepted } = recordingSink(
      (event, offer) => event.data.conversionId === third && offer === 1,
    );
    const { handler, invocations } = feedHandler(sink);

    // Act
    await (await poll(name, handler)).drained();

    // Assess: the first batch reports the third record; the next batch starts at it
    const [firstBatch, secondBatch] = invocations;
    const sequences = sequencesOf(firstBatch);
    expect(sequences).toHaveLength(5);
    expect(firstBatch?.result?.batchItemFailures).toEqual([{ itemIdentifier: sequences[2] }]);
    expect(sequencesOf(secondBatch)).toEqual(sequences.slice(2));
    expect(secondBatch?.result?.batchItemFailures).toEqual([]);
    // Records before it are not given again; the refused one and those after it are, once more.
    expect(conversionIds(accepted)).toEqual([
      ...logged.map((c) => c.conversionId).slice(0, 2),
      ...logged.map((c) => c.conversionId).slice(3),
      ...logged.map((c) => c.conversionId).slice(2),
    ]);
  });

  it('bisects a record that keeps failing out of its batch and gives it up to the DLQ after the retry bound', async () => {
    // Prepare: the sink always refuses the third conversion
    const { name, store } = await ledgerTable();
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const logged = await logConversions(store, tenantId, 6);
    const poison = logged[2]?.conversionId;
    const { sink, accepted, offers } = recordingSink((event) => event.data.conversionId === poison);
    const { handler, invocations } = feedHandler(sink);
    const dlqName = `feed-dlq-${randomUUID().slice(0, 8)}`;
    await ensureStandardQueue(sqs, dlqName);
    const dlq = localQueueUrl(emulatorEndpoints().sqs, dlqName);

    // Act
    await (await poll(name, handler, { dlq, retryAttempts: 2 })).drained();

    // Assess: every other conversion delivered; the poison one offered 1 + 2 retries, then dead-lettered
    const poisonSequence = sequencesOf(invocations[0])[2];
    expect(new Set(conversionIds(accepted))).toEqual(
      new Set(logged.map((c) => c.conversionId).filter((id) => id !== poison)),
    );
    // Bisections do not count: alone, it is tried once and retried twice (retryAttempts 2).
    const alone = invocations.filter(
      (i) => i.event.Records.length === 1 && sequencesOf(i)[0] === poisonSequence,
    );
    expect(alone).toHaveLength(3);
    expect(Math.max(...offers.values())).toBeGreaterThanOrEqual(3);
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(received.Messages).toHaveLength(1);
    const record = JSON.parse(received.Messages?.[0]?.Body ?? '{}');
    expect(record.requestContext.condition).toBe('RetryAttemptsExhausted');
    expect(record.DDBStreamBatchInfo).toMatchObject({
      batchSize: 1,
      startSequenceNumber: poisonSequence,
      endSequenceNumber: poisonSequence,
    });
  });

  it('resumes from its checkpoint after a restart: nothing handed over twice, nothing skipped', async () => {
    // Prepare
    const { name, store } = await ledgerTable();
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const checkpoint = checkpointFile();
    const before = await logConversions(store, tenantId, 3);
    const first = recordingSink();
    const firstPoller = await poll(name, feedHandler(first.sink).handler, { checkpoint });
    await firstPoller.drained();
    await firstPoller.stop();

    // Act: more effects while it is down, then a new poller on the same checkpoints
    const during = await logConversions(store, tenantId, 2, 3);
    const second = recordingSink();
    await (await poll(name, feedHandler(second.sink).handler, { checkpoint })).drained();

    // Assess
    expect(conversionIds(first.accepted)).toEqual(before.map((c) => c.conversionId));
    expect(conversionIds(second.accepted)).toEqual(during.map((c) => c.conversionId));
  });

  it('two pollers of one shard: each effect one id, one kept by the dispatcher dedupe', async () => {
    const report = await raceTrials({
      trials: 4,
      setup: async () => {
        const { name, store } = await ledgerTable();
        const tenantId = `t-${randomUUID().slice(0, 8)}`;
        const logged = await logConversions(store, tenantId, 8);
        // The dispatcher's dedupe by event id: one conditional put per id, in a table of its own.
        const dedupe = await ledgerTable();
        const kept: string[] = [];
        const sinks = [0, 1].map(() => recordingSink(() => false));
        const deduping = (inner: EventSink): EventSink => ({
          async accept(events) {
            for (const event of events) {
              const put = await putOnce(ddb, {
                table: dedupe.name,
                item: { pk: event.eventId, sk: 'EVENT' },
              });
              if (put.created) kept.push(event.eventId);
            }
            return inner.accept(events);
          },
        });
        return { name, logged, sinks, kept, deduping };
      },
      contenders: (state) =>
        state.sinks.map((s) => async () => {
          const poller = await poll(state.name, feedHandler(state.deduping(s.sink)).handler, {
            batchSize: 3,
          });
          await poller.drained();
        }),
      check: (state) => {
        const expected = state.logged.map((c) => c.conversionId);
        for (const s of state.sinks) {
          // At least once to each reader, with one id per effect.
          expect(new Set(conversionIds(s.accepted))).toEqual(new Set(expected));
        }
        const idsByConversion = new Map<unknown, Set<string>>();
        for (const event of state.sinks.flatMap((s) => s.accepted)) {
          const ids = idsByConversion.get(event.data.conversionId) ?? new Set();
          ids.add(event.eventId);
          idsByConversion.set(event.data.conversionId, ids);
        }
        expect([...idsByConversion.values()].every((ids) => ids.size === 1)).toBe(true);
        expect(state.kept.sort()).toEqual(
          [...new Set(state.sinks[0]?.accepted.map((e) => e.eventId))].sort(),
        );
      },
    });
    expect(report.failures).toEqual([]);
  });
});
