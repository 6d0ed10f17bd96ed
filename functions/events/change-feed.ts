/**
 * The change feed: a batch of committed changes (one shard, in order) → the events they are → the
 * sink. Answers the first change the sink could not take (or whose images did not read), so the
 * stream gives that change and every later one of the shard again, and nothing before it: at least
 * once, in order, with the ids `derive.ts` makes stable.
 */
import { failpoint } from '../kernel/failpoints.js';
import type { StreamBatchResult, StreamChange } from '../kernel/stream-consumer.js';
import { logger } from '../kernel/telemetry.js';
import { deriveEvents } from './derive.js';
import { FP_FEED_AFTER_ACCEPT, FP_FEED_BEFORE_ACCEPT } from './failpoints.js';
import type { EventSink, OnceflowEvent } from './model.js';

export async function feedChanges(
  changes: readonly StreamChange[],
  sink: EventSink,
): Promise<StreamBatchResult> {
  const perChange: OnceflowEvent[][] = [];
  let unreadable: number | undefined;
  for (const [index, change] of changes.entries()) {
    try {
      perChange.push(deriveEvents(change));
    } catch (error) {
      // A malformed effect item (`MalformedItemError` names the attribute, never its value).
      logger.error('stream record not derived: failed so that it reaches the DLQ', {
        sequenceNumber: change.sequenceNumber,
        error: error instanceof Error ? error.message : String(error),
      });
      unreadable = index;
      break;
    }
  }
  const events = perChange.flat();
  failpoint(FP_FEED_BEFORE_ACCEPT);
  const { failed } = events.length > 0 ? await sink.accept(events) : { failed: [] };
  failpoint(FP_FEED_AFTER_ACCEPT);
  const refused = new Set(failed);
  const firstRefused = perChange.findIndex((list) => list.some((e) => refused.has(e.eventId)));
  const firstFailed = firstRefused === -1 ? unreadable : firstRefused;
  return firstFailed === undefined ? {} : { firstFailed };
}
