/**
 * The change feed's crash points (the crash matrix, `test/crash-matrix/events.flow.ts`, arms each
 * once). Between reading a batch and the sink taking its events, and between the sink taking them
 * and the checkpoint moving past them (the poller's, or Lambda's, after the handler answers).
 */
import { defineFailpoint } from '../kernel/failpoints.js';

export const FP_FEED_BEFORE_ACCEPT = defineFailpoint(
  'events.feed.before-accept',
  'a batch of stream records read and its events derived, none handed to the sink yet',
);
export const FP_FEED_AFTER_ACCEPT = defineFailpoint(
  'events.feed.after-accept',
  "the sink took the batch's events, the shard's checkpoint not yet moved past them",
);
