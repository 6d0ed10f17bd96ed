/** The conversations context's composition root: its stores and clients, from the environment, once. */
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import { type ConversationStore, DynamoDbConversationStore } from './conversation-store.js';
import type { ConversationsStoreContext } from './merge.js';
import type { InboundDeps } from './store-message.js';

export function inboundDeps(): InboundDeps {
  return {
    ddb,
    sqs,
    clock: systemClock,
    table: tableName('inbound'),
    jobsQueueUrl: queueUrl('jobs'),
  };
}

/** The read side and leads: the conversation store over the inbound table, with the fold's context. */
export function conversationsDeps(): ConversationsStoreContext & {
  readonly store: ConversationStore;
} {
  const table = tableName('inbound');
  return { ddb, clock: systemClock, table, store: new DynamoDbConversationStore(ddb, table) };
}
