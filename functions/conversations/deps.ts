/**
 * The conversations context's composition root: its stores and clients, from the environment,
 * built once per table (tests and the crash matrix point the context at a table of their own), and
 * the job registry: the jobs live in the message item, which is this context's, so the jobs
 * context's store, runner and sweep are composed here with each job type's work (`lead_match`
 * from here, `ai_triage` from jobs). Jobs import only the kernel.
 */
import {
  type AiReplyPort,
  chatCompletion,
  DynamoDbJobStore,
  type JobDeps,
  type JobStore,
  type RecoveryDeps,
  triage,
} from '../jobs/index.js';
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, settings, tableName } from '../kernel/config.js';
import { memoized } from '../kernel/memoized.js';
import { TtlCache } from '../kernel/ttl-cache.js';
import { type ConversationStore, DynamoDbConversationStore } from './conversation-store.js';
import { type KeyItem, type MessageItem, messageHost } from './items.js';
import { matchLead } from './lead-match.js';
import type { ConversationsStoreContext } from './merge.js';
import type { InboundDeps } from './store-message.js';

/** How long a container serves a key item it read (a stale one costs one refused write). */
const ROUTE_CACHE_SECONDS = 300;
const routes = /* @__PURE__ */ memoized(
  () =>
    new TtlCache<KeyItem>({
      ttlMs: ROUTE_CACHE_SECONDS * 1000,
      clock: systemClock,
      maxEntries: 10_000,
    }),
);

/** The stores over one table, built the first time that table is asked for. */
interface Stores {
  readonly table: string;
  readonly conversations: ConversationStore;
  readonly jobs: JobStore<MessageItem>;
}

const storesOf = /* @__PURE__ */ memoized(
  (): Stores => {
    const table = tableName('inbound');
    return {
      table,
      conversations: new DynamoDbConversationStore(ddb, table),
      jobs: new DynamoDbJobStore(ddb, table, messageHost),
    };
  },
  () => tableName('inbound'),
);

export function inboundDeps(): InboundDeps {
  return {
    ddb,
    sqs,
    clock: systemClock,
    table: tableName('inbound'),
    jobsQueueUrl: queueUrl('jobs'),
    routes: routes(),
  };
}

/** The read side and leads: the conversation store over the inbound table, with the fold's context. */
export function conversationsDeps(): ConversationsStoreContext & {
  readonly store: ConversationStore;
} {
  const { table, conversations } = storesOf();
  return { ddb, clock: systemClock, table, store: conversations };
}

/** The message jobs' store (the jobs context's adapter, handed the message item's key). */
export function messageJobStore(): JobStore<MessageItem> {
  return storesOf().jobs;
}

/**
 * The job consumer's: the store, and each job type's work, registered by the context owning it.
 * `replies` is the replies context's port for AI replies, handed in by the consumer's handler (the
 * replies context imports conversations, so conversations does not import it back); without it,
 * `ai_triage` drafts and never sends.
 */
export function jobDeps(options: { readonly replies?: AiReplyPort } = {}): JobDeps<MessageItem> {
  return {
    store: messageJobStore(),
    clock: systemClock,
    leaseSeconds: settings.leaseSeconds,
    work: {
      lead_match: matchLead(conversationsDeps()),
      ai_triage: triage({ clock: systemClock, chat: chatCompletion, ...options }),
    },
  };
}

/** The recovery sweep works on what storing a message writes: the message items and the jobs queue. */
export function recoveryDeps(): RecoveryDeps<MessageItem> {
  return { store: messageJobStore(), sqs, clock: systemClock, jobsQueueUrl: queueUrl('jobs') };
}
