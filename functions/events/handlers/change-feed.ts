/**
 * Trigger: DynamoDB Streams of the effects' tables (manifest `changeFeed`, NEW_AND_OLD_IMAGES).
 * Each committed effect → its event, handed to the endpoints' dispatcher; a record the dispatcher
 * could not take is this batch's failure, and the stream gives it (and the rest of its shard) again.
 */
import { streamConsumer } from '../../kernel/stream-consumer.js';
import { feedChanges } from '../change-feed.js';
import { changeFeedDeps } from '../deps.js';

export const handler = streamConsumer({
  name: 'changeFeed',
  lagMetric: 'ChangeFeedLagSeconds',
  handle: (changes) => feedChanges(changes, changeFeedDeps().sink),
});
