/**
 * The local stream poller's batching window (Lambda's `MaximumBatchingWindowInSeconds`, which the
 * counter fold sets): after a shard's first records, the poller keeps reading it for up to the
 * window, or until the batch is full, and hands everything over as one batch. Records written after
 * the first read (the read is observed, not waited for by time) come in the same invocation with a
 * window and in a later one without.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  feedHandler,
  ledgerTable,
  logConversions,
  poll,
  recordingSink,
  stopPollers,
} from '../events/feed-support.js';

afterEach(() => stopPollers());

/** Invocations' sizes when two more records are written right after the poller's first read. */
async function batchesWith(options: { batchingWindowMs?: number; batchSize?: number }) {
  const { name, store } = await ledgerTable();
  const tenantId = `t-${randomUUID().slice(0, 8)}`;
  await logConversions(store, tenantId, 1);
  const feed = feedHandler(recordingSink().sink);
  let more: Promise<unknown> | undefined;
  const poller = await poll(name, feed.handler, {
    ...options,
    onRecordsRead: async () => {
      // The first read answered the first record: two more now, while a window would gather.
      more ??= logConversions(store, tenantId, 2, 1);
      await more;
    },
  });
  await poller.drained();
  await more;
  await poller.drained();
  return feed.invocations.map((i) => i.event.Records.length);
}

describe('the stream poller gathers a batch for the batching window', () => {
  it('without a window, the records written after the first read come in a later invocation', async () => {
    const sizes = await batchesWith({});
    expect(sizes[0]).toBe(1);
    expect(sizes.reduce((n, s) => n + s, 0)).toBe(3);
  });

  it('with a window, they come in the same invocation', async () => {
    expect(await batchesWith({ batchingWindowMs: 2000 })).toEqual([3]);
  });

  it('a batch holds at most its batch size; the rest come in the next', async () => {
    const sizes = await batchesWith({ batchingWindowMs: 2000, batchSize: 2 });
    expect(sizes).toEqual([2, 1]);
  });
});
