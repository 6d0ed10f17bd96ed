/**
 * Crash flows of the events change feed: a crash between reading a batch from the stream and the
 * sink taking its events, and one after the sink took them but before the shard's checkpoint moved
 * past them. The local poller (Lambda's event source mapping) sees the invocation fail, bisects and
 * gives the records again, as Lambda would. Invariants: every committed effect reaches the
 * dispatcher's dedupe (one conditional put per event id) under exactly one id, none is lost, none
 * is given up to the DLQ, and the crash point fired once.
 */
import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { expect } from 'vitest';
import { FP_FEED_AFTER_ACCEPT, FP_FEED_BEFORE_ACCEPT } from '../../functions/events/failpoints.js';
import type { EventSink } from '../../functions/events/model.js';
import { armOnce, firedCount } from '../../functions/kernel/failpoints.js';
import { putOnce } from '../../functions/kernel/put-once.js';
import { ensureStandardQueue } from '../../lib/local/provision.js';
import { localQueueUrl } from '../../lib/local/resources.js';
import {
  conversionIds,
  ddb,
  feedHandler,
  ledgerTable,
  logConversions,
  poll,
  recordingSink,
  sqs,
  stopPollers,
} from '../integration/events/feed-support.js';
import { emulatorEndpoints } from '../support/emulators.js';
import type { CrashFlow } from './flow.js';

async function feedThroughCrash(point: string): Promise<void> {
  const { name, store } = await ledgerTable();
  const tenantId = `t-${randomUUID().slice(0, 8)}`;
  const logged = await logConversions(store, tenantId, 6);
  const dedupe = await ledgerTable();
  const kept: string[] = [];
  const inner = recordingSink();
  const deduping: EventSink = {
    async accept(events) {
      for (const event of events) {
        const put = await putOnce(ddb, {
          table: dedupe.name,
          item: { pk: event.eventId, sk: 'E' },
        });
        if (put.created) kept.push(event.eventId);
      }
      return inner.sink.accept(events);
    },
  };
  const dlqName = `feed-crash-dlq-${randomUUID().slice(0, 8)}`;
  await ensureStandardQueue(sqs, dlqName);
  const dlq = localQueueUrl(emulatorEndpoints().sqs, dlqName);

  armOnce(point);
  try {
    await (await poll(name, feedHandler(deduping).handler, { dlq, retryAttempts: 2 })).drained();
  } finally {
    await stopPollers();
  }

  expect(firedCount(point)).toBe(1);
  const expected = logged.map((c) => c.conversionId);
  expect(new Set(conversionIds(inner.accepted))).toEqual(new Set(expected));
  const idsPerConversion = new Map<unknown, Set<string>>();
  for (const event of inner.accepted) {
    idsPerConversion.set(
      event.data.conversionId,
      (idsPerConversion.get(event.data.conversionId) ?? new Set()).add(event.eventId),
    );
  }
  expect([...idsPerConversion.values()].every((ids) => ids.size === 1)).toBe(true);
  expect(kept).toHaveLength(expected.length);
  const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, WaitTimeSeconds: 0 }));
  expect(dead.Messages ?? []).toEqual([]);
}

const flows: CrashFlow[] = [
  {
    name: 'events change feed',
    failpoints: [FP_FEED_BEFORE_ACCEPT, FP_FEED_AFTER_ACCEPT],
    run: feedThroughCrash,
  },
];

export default flows;
