/** The conversations context's composition root: its stores and clients, from the environment, once. */
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import { type ConversationStore, DynamoDbConversationStore } from './conversation-store.js';
import type { ConversationsStoreContext } from './merge.js';
import type { KeyItem } from './routing.js';
import type { InboundDeps } from './store-message.js';

/** How long a container serves a key item it read (a stale one costs one refused write). */
const ROUTE_CACHE_SECONDS = 300;
let routes: TtlCache<KeyItem> | undefined;

export function inboundDeps(): InboundDeps {
  routes ??= new TtlCache<KeyItem>({
    ttlMs: ROUTE_CACHE_SECONDS * 1000,
    clock: systemClock,
    maxEntries: 10_000,
  });
  return {
    ddb,
    sqs,
    clock: systemClock,
    table: tableName('inbound'),
    jobsQueueUrl: queueUrl('jobs'),
    routes,
  };
}

/** The read side and leads: the conversation store over the inbound table, with the fold's context. */
export function conversationsDeps(): ConversationsStoreContext & {
  readonly store: ConversationStore;
} {
  const table = tableName('inbound');
  return { ddb, clock: systemClock, table, store: new DynamoDbConversationStore(ddb, table) };
}
