/**
 * Hot keys at the stated scale (issue 7.11), by distribution: at 10,000 inbound messages/s no
 * partition key of the inbound table's indexes may take more than DynamoDB's 1,000 write units/s.
 * docs/scale.md derives the same figures.
 */
import { describe, expect, it } from 'vitest';
import { conversationIdFor, keys } from '../../functions/conversations/items.js';
import { messageIdFor } from '../../functions/conversations/store-message.js';
import { keys as jobKeys } from '../../functions/jobs/items.js';

const MESSAGES_PER_SECOND = 10_000;
const PARTITION_WCU = 1_000;

/** The largest share of `keys` any one value takes. */
function maxShare(keys: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return Math.max(...counts.values()) / keys.length;
}

describe('no hot index key at 10,000 messages/s', () => {
  it('the jobs sweep index: two writes per message (enter, leave), spread so no key exceeds 1,000/s', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => messageIdFor('t-busy', `wamid:${i}`));
    const perKey = 2 * MESSAGES_PER_SECOND * maxShare(ids.map(jobKeys.sweepShardOf));
    expect(perKey).toBeLessThan(PARTITION_WCU);
  });

  it('one tenant taking every message: its conversation listing keys stay under 1,000 writes/s each', () => {
    // Each message moves its conversation's listing sort key: a delete and a put in the index.
    const conversations = Array.from({ length: 10_000 }, (_, i) =>
      conversationIdFor(`phone:t-busy:+9725${String(i).padStart(8, '0')}`),
    );
    const perKey =
      2 * MESSAGES_PER_SECOND * maxShare(conversations.map((c) => keys.listingOf('t-busy', c)));
    expect(perKey).toBeLessThan(PARTITION_WCU);
  });
});
