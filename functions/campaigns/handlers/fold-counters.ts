/**
 * Trigger: DynamoDB Streams of the `campaigns` table (manifest `foldCampaignCounters`,
 * NEW_AND_OLD_IMAGES). Each recipient transition's counter deltas folded into its shard's counts,
 * exactly once per record (`counter-fold.ts`); a shard whose write failed is this batch's failure,
 * and the stream gives it (and the rest of the shard) again.
 */
import { streamConsumer } from '../../kernel/stream-consumer.js';
import { foldCounters } from '../counter-fold.js';
import { foldDeps } from '../deps.js';

export const handler = streamConsumer({
  name: 'foldCampaignCounters',
  handle: (changes) => foldCounters(changes, foldDeps()),
});
