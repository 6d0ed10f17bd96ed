/**
 * Files one inbound (or the business's own outbound) message exactly once, into its person's
 * conversation, with its post-processing jobs. The durable effect spans items, so it is one
 * `TransactWriteItems`: the message with its jobs map (`attribute_not_exists`, the dedupe), the
 * conversation's counter and display fields (an upsert), the conversation key item on first contact
 * (`attribute_not_exists`: unique by a conditional write, never by a query) and the alias links the
 * payload shows that are not linked yet. Then the jobs are enqueued: one ring naming them all.
 *
 * Before any routing read, one small conditional put claims the message item
 * (`attribute_not_exists`, answering with the item as it stood on failure): a duplicate of a filed
 * message is known from that one write, its physical floor, and costs nothing more. A claim without
 * a `conversationId` is an attempt that crashed (or is still running) before filing: the delivery
 * files it itself. The filing transaction's message write is guarded on `attribute_not_exists
 * (conversationId)`, so two deliveries racing past the claim still file the message once.
 *
 * A duplicate answers with the message item as it stands, jobs included (no extra read); it then
 * re-enqueues a job only when that job failed (reset to a new generation; the reset ones in one
 * ring). Pending and done jobs are left alone; a pending job whose enqueue was lost in a crash is
 * found by the recovery schedule.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DynamoDbJobStore,
  enqueueJobs,
  JOB_TYPES,
  type Job,
  type JobStore,
  type JobType,
  jobsOf,
  newJobsAttributes,
  pendingSweepKeys,
} from '../jobs/index.js';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { conditionalUpdate, conditionalUpdateWrite } from '../kernel/conditional-update.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { type Item, putOnce } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import { sha256Hex } from '../kernel/secrets.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import { type PersonIdentity, rawPhoneAlias } from './identity.js';
import {
  claimItem,
  conversationIdFor,
  filedMessageItem,
  type Key,
  keyItem,
  keys,
  linkItem,
  type MessageChannel,
  type MessageItem,
  memberItem,
  messageHost,
  type ReplyAddress,
  replyAddressAttribute,
  toConversationItem,
  toMessageItem,
} from './items.js';
import { foldLinkedAliases, moveMessages, rootOf } from './merge.js';
import { applyEchoOfReply } from './outbound.js';
import { type RouteCache, resolveRoute } from './routing.js';

export const AFTER_MESSAGE_STORED = defineFailpoint(
  'inbound.after-message-stored',
  'inbound webhook: message, conversation and jobs written, jobs not yet enqueued',
);
export const AFTER_MESSAGE_CLAIMED = defineFailpoint(
  'inbound.after-message-claimed',
  'inbound webhook: the message item is claimed, not yet routed or filed',
);
export const AFTER_JOB_RESET = defineFailpoint(
  'inbound.after-job-reset',
  'inbound duplicate: a failed job was reset to pending, not yet enqueued',
);

export interface InboundDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly clock: Clock;
  readonly table: string;
  readonly jobsQueueUrl: string;
  /** Key items seen in this container (`routing.ts`); without it every route is read. */
  readonly routes?: RouteCache;
}

export interface IncomingMessage {
  readonly tenantId: string;
  readonly channel: MessageChannel;
  readonly direction: 'in' | 'out';
  /** The provider identity of the message (`messageKeys` in `webhooks/items.ts` spell them). */
  readonly dedupeKey: string;
  readonly providerMessageId?: string;
  /** Unipile's account, chat and e-mail ids, so a reply can be addressed (`items.ts` `FiledMessage`). */
  readonly providerAccountId?: string;
  readonly providerChatId?: string;
  readonly providerEmailId?: string;
  /** Where a reply to this (inbound) message goes, on a channel that answers a thread (Unipile). */
  readonly replyAddress?: ReplyAddress;
  readonly subject?: string;
  readonly body: string;
  /** Provider time when trustworthy, else receipt time. */
  readonly createdAt: string;
  readonly person: PersonIdentity;
  /** WhatsApp profile name of the person (never set from the business's own messages). */
  readonly profileName?: string;
  readonly groupId?: string;
  /**
   * A message from the past filed now (the legacy import), not one arriving live: the conversation's
   * `lastMessageAt` comes from the messages' own times and is never moved backwards (a live message
   * newer than the history keeps its place; `advanceLastMessageAt` moves it forward afterwards),
   * and post-processing jobs are created only when `runJobs` (model calls on years of history cost
   * money and tell nobody anything).
   */
  readonly history?: { readonly runJobs: boolean };
}

/**
 * An extra once-only write that must commit with the message (e.g. a dedupe window's claim item).
 * When its condition fails, nothing is written and `storeMessage` throws `ClaimLostError`.
 */
export interface MessageClaim {
  readonly key: Key;
  /** The claim item's attributes (its key is `key`). */
  readonly item: Item;
  readonly condition: string;
  readonly values?: Item;
}

export class ClaimLostError extends Error {
  override name = 'ClaimLostError';
}

export interface StoreResult {
  readonly messageId: string;
  readonly conversationId: string;
  readonly deduped: boolean;
}

/** Deterministic: the same provider message of the same tenant always gets the same id. */
export function messageIdFor(tenantId: string, dedupeKey: string): string {
  return `m_${sha256Hex(`${tenantId}|${dedupeKey}`).slice(0, 32)}`;
}

export function jobTypesFor(
  message: Pick<IncomingMessage, 'direction' | 'history'>,
): readonly JobType[] {
  // The business's own replies need no lead matching or triage; history only when asked for.
  if (message.history && !message.history.runJobs) return [];
  return message.direction === 'in' ? JOB_TYPES : [];
}

/** The jobs of messages: the jobs context's store, handed the message item's key and parser. */
function messageJobs(deps: Pick<InboundDeps, 'ddb' | 'table'>): JobStore<MessageItem> {
  return new DynamoDbJobStore(deps.ddb, deps.table, messageHost);
}

/**
 * Moves a conversation's `lastMessageAt` (and its place in the recency listing) forward to `at`,
 * never backwards: one conditional update, a no-op when the conversation already shows a later
 * message or was merged away. Idempotent, so an import that crashed converges when run again.
 */
export async function advanceLastMessageAt(
  deps: Pick<InboundDeps, 'ddb' | 'table'>,
  tenantId: string,
  conversationId: string,
  at: string,
): Promise<boolean> {
  const result = await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: keys.conversation(conversationId),
    set: { lastMessageAt: at, gsi1sk: keys.listingSort(at, conversationId) },
    conditions: [
      {
        expression: 'attribute_exists(pk) AND tenantId = :t AND attribute_not_exists(mergedInto)',
        values: { ':t': tenantId },
      },
      {
        expression: '(attribute_not_exists(lastMessageAt) OR lastMessageAt < :at)',
        values: { ':at': at },
      },
    ],
  });
  return result.applied;
}

const MAX_ROUTE_ATTEMPTS = 10;

/** A key item found naming a merged conversation: the message goes to its root, and the key is repaired. */
interface Followed {
  readonly root: string;
  readonly rootKey: string;
  readonly leadId?: string;
}

export async function storeMessage(
  deps: InboundDeps,
  message: IncomingMessage,
  claim?: MessageClaim,
): Promise<StoreResult> {
  const messageId = messageIdFor(message.tenantId, message.dedupeKey);
  const types = jobTypesFor(message);
  // When the jobs are created: one instant for the claim's sweep keys and the filing's, so the
  // filing finds them where the claim put them (see `claimMessageItem`).
  const jobsAt = deps.clock.now();
  if (!claim) {
    // The claim-first write: a duplicate of a filed message stops here, at one write.
    const claimed = await claimMessageItem(deps, message, messageId, types, jobsAt);
    if (claimed.filed) return suppressDuplicate(deps, message, messageId, claimed.filed);
    failpoint(AFTER_MESSAGE_CLAIMED);
  }
  const followed = new Map<string, Followed>();
  for (let attempt = 1; attempt <= MAX_ROUTE_ATTEMPTS; attempt++) {
    const outcome = await retryOnConflict(() =>
      tryStore(deps, message, messageId, { types, at: jobsAt }, followed, claim),
    );
    if (outcome.kind === 'stored') {
      failpoint(AFTER_MESSAGE_STORED);
      if (outcome.linkedNew && outcome.e164) {
        await foldLinkedAliases(deps, message.tenantId, outcome.e164, outcome.aliases);
      }
      await enqueueJobs(deps.sqs, deps.jobsQueueUrl, outcome.jobs);
      return { messageId, conversationId: outcome.conversationId, deduped: false };
    }
    if (outcome.kind === 'duplicate') {
      return suppressDuplicate(deps, message, messageId, outcome.current);
    }
    if (outcome.kind === 'merged') {
      // The key names a merged conversation: file under its root, finish moving whatever the
      // merged one still holds (a fold that crashed before moving), and repair the key.
      const root = await rootOf(deps, outcome.conversationId);
      for (const id of root.chain) await moveMessages(deps, id, root.conversationId);
      followed.set(outcome.keyNamed, {
        root: root.conversationId,
        rootKey: root.item?.conversationKey ?? '',
        ...(root.item?.leadId !== undefined ? { leadId: root.item.leadId } : {}),
      });
    }
    // Otherwise the route moved under us (a first contact or a link raced us): re-read it.
  }
  throw new Error(`message ${messageId} could not be routed after ${MAX_ROUTE_ATTEMPTS} attempts`);
}

async function suppressDuplicate(
  deps: InboundDeps,
  message: IncomingMessage,
  messageId: string,
  current: MessageItem | undefined,
): Promise<StoreResult> {
  // The provider's copy of a reply onceflow sent (its record write claimed this item): it only
  // moves the reply's status (`outbound.ts`).
  const echoOf = current ? await applyEchoOfReply(deps, current) : undefined;
  if (echoOf && current?.conversationId) {
    return { messageId: echoOf.replyId, conversationId: current.conversationId, deduped: true };
  }
  countMetric('DuplicateSuppressed');
  logger.info('duplicate suppressed', { dedupeKey: message.dedupeKey, messageId });
  return handleDuplicate(deps, messageId, current);
}

/**
 * A claim whose delivery crashed and was never delivered again expires (DynamoDB TTL) after the
 * longest provider retry horizon: Meta retries a webhook for up to 7 days, GoHighLevel ~70 minutes.
 * The filing put replaces the whole item, so a filed message never expires.
 */
export const UNFILED_CLAIM_TTL_SECONDS = 8 * 24 * 3600;

/**
 * Puts the message's claim: a small item (no body, no jobs, no listing keys) that only says the
 * provider message was seen. `filed` is the message item as it stood when it was already filed
 * (it has a `conversationId`); a claim left by an earlier attempt is not `filed`.
 *
 * A message that will have jobs is claimed with its sweep keys already (`pendingSweepKeys` of the
 * jobs' creation time, the same the filing of this delivery writes). Entering the sweep index here
 * is one index write outside any transaction; the filing transaction then replaces the item with
 * the keys unchanged, which moves nothing in the keys-only index (saving the index write a
 * transaction made, charged once or twice: docs/performance.md, "Issue 25: the claim carries the
 * sweep keys"). A claim whose delivery died and never came again is found by the sweep, which finds
 * the item holds no jobs and takes it out of the index (guarded on it still holding none:
 * `job-store.ts` reschedule).
 */
async function claimMessageItem(
  deps: InboundDeps,
  message: IncomingMessage,
  messageId: string,
  types: readonly JobType[],
  jobsAt: number,
): Promise<{ filed?: MessageItem }> {
  const claimed = await putOnce(deps.ddb, {
    table: deps.table,
    item: {
      ...claimItem({
        tenantId: message.tenantId,
        messageId,
        claimedAt: isoTime(deps.clock),
        expiresAt: Math.ceil(deps.clock.now() / 1000) + UNFILED_CLAIM_TTL_SECONDS,
      }),
      ...(types.length > 0 ? pendingSweepKeys(messageId, jobsAt) : {}),
    },
  });
  const existing = claimed.created ? undefined : toMessageItem(claimed.existing);
  if (existing?.conversationId === undefined) return {};
  return { filed: existing };
}

type Outcome =
  | {
      kind: 'stored';
      conversationId: string;
      jobs: Job[];
      e164?: string;
      linkedNew: boolean;
      aliases: readonly string[];
    }
  | { kind: 'duplicate'; current?: MessageItem }
  | { kind: 'merged'; conversationId: string; keyNamed: string }
  | { kind: 'rerouted' };

async function tryStore(
  deps: InboundDeps,
  message: IncomingMessage,
  messageId: string,
  jobs: { readonly types: readonly JobType[]; readonly at: number },
  followed: ReadonlyMap<string, Followed>,
  claim: MessageClaim | undefined,
): Promise<Outcome> {
  const { ddb, clock, table } = deps;
  const route = await resolveRoute(deps, message.tenantId, message.person);
  const follow = route.existing ? followed.get(route.existing.conversationId) : undefined;
  const conversationId =
    follow?.root ?? route.existing?.conversationId ?? conversationIdFor(route.routeKey);
  const conversationKey = follow?.rootKey || route.existing?.conversationKey || route.routeKey;
  const leadId = follow ? follow.leadId : route.existing?.leadId;
  const receivedAt = isoTime(clock);
  const e164 = route.e164;
  const jobsAttributes = newJobsAttributes(messageId, jobs.types, jobs.at);
  const profileName = message.profileName?.slice(0, 200);
  // The routing key item, as a new key writes it and as a repair rewrites it.
  const routeItem = (withLead?: string) =>
    keyItem(message.tenantId, route.routeKey, {
      conversationId,
      conversationKey,
      ...(withLead ? { leadId: withLead } : {}),
    });
  // Live: the conversation moves to the top at receipt. History: it is placed by the message's own
  // time, and only where it has no place yet (`advanceLastMessageAt` moves it forward, never back).
  const lastAt = message.history ? message.createdAt : receivedAt;
  const listed = {
    lastMessageAt: lastAt,
    gsi1sk: keys.listingSort(lastAt, conversationId),
  };
  // A phone's first contact also links its raw digits (`pn:<digits>`): messages an earlier release
  // could not parse were stored under that raw id, and fold into the phone's conversation now.
  const aliases =
    e164 && !route.existing
      ? [...new Set([...message.person.aliases, rawPhoneAlias(e164)])].sort()
      : message.person.aliases;
  const newLinks = e164
    ? aliases.filter((alias) => !route.linked?.has(alias)).map((alias) => ({ alias, e164 }))
    : [];

  const writes: AtomicWrite[] = [
    ...(claim
      ? [
          {
            label: 'claim',
            put: {
              table,
              item: { ...claim.item, ...claim.key },
              condition: claim.condition,
              ...(claim.values ? { values: claim.values } : {}),
            },
          },
        ]
      : []),
    {
      label: 'message',
      put: {
        table,
        item: filedMessageItem(
          {
            tenantId: message.tenantId,
            messageId,
            conversationId,
            direction: message.direction,
            channel: message.channel,
            body: message.body,
            ...(message.providerMessageId ? { providerMessageId: message.providerMessageId } : {}),
            ...(message.providerAccountId ? { providerAccountId: message.providerAccountId } : {}),
            ...(message.providerChatId ? { providerChatId: message.providerChatId } : {}),
            ...(message.providerEmailId ? { providerEmailId: message.providerEmailId } : {}),
            ...(message.subject ? { subject: message.subject.slice(0, 998) } : {}),
            dedupeKey: message.dedupeKey,
            createdAt: message.createdAt,
            receivedAt,
            ...(e164 ? { e164 } : {}),
            aliases,
            ...(profileName ? { profileName } : {}),
            ...(message.groupId ? { groupId: message.groupId } : {}),
          },
          jobsAttributes,
        ),
        // Not filed yet: new, or only claimed (by this delivery or one that crashed).
        condition: 'attribute_not_exists(conversationId)',
      },
    },
    {
      label: 'member',
      put: {
        table,
        item: memberItem({
          tenantId: message.tenantId,
          messageId,
          conversationId,
          createdAt: message.createdAt,
        }),
      },
    },
    conditionalUpdateWrite('conversation', {
      table,
      key: keys.conversation(conversationId),
      set: {
        tenantId: message.tenantId,
        conversationId,
        ...(message.history ? {} : listed),
        // What a reply needs: its default channel and the WhatsApp 24-hour service window.
        ...(message.direction === 'in' && !message.history
          ? {
              lastInboundAt: message.createdAt,
              lastInboundChannel: message.channel,
              ...(message.channel === 'whatsapp'
                ? { lastWhatsAppInboundAt: message.createdAt }
                : {}),
              ...(message.replyAddress
                ? { [replyAddressAttribute(message.channel)]: message.replyAddress }
                : {}),
            }
          : {}),
        gsi1pk: keys.listingOf(message.tenantId, conversationId),
        ...(profileName ? { profileName } : {}),
      },
      setIfAbsent: {
        conversationKey,
        createdAt: receivedAt,
        ...(message.history ? listed : {}),
        ...(e164 ? { e164 } : {}),
        ...(leadId ? { leadId } : {}),
      },
      add: { messageCount: 1 },
      conditions: [{ expression: 'attribute_not_exists(mergedInto)' }],
    }),
    ...(route.existing
      ? []
      : [
          {
            label: 'key',
            put: {
              table,
              item: routeItem(),
              condition: 'attribute_not_exists(pk)',
            },
          },
        ]),
    // A key found naming a merged conversation now names its root (if nobody repaired it first).
    ...(follow && route.existing
      ? [
          {
            label: 'key-repair',
            put: {
              table,
              item: routeItem(leadId),
              condition: 'conversationId = :seen',
              values: { ':seen': route.existing.conversationId },
            },
          },
        ]
      : []),
    // A person seen only under aliases: only while no link names a phone for any of them (else a
    // concurrent linking message would leave two conversations of one person).
    ...(e164
      ? []
      : message.person.aliases.map((alias) => ({
          label: `unlinked:${alias}`,
          check: {
            table,
            key: keys.link(message.tenantId, alias),
            condition: 'attribute_not_exists(pk)',
          },
        }))),
    // Links are idempotent upserts; one the route read already found pointing at this phone is not rewritten.
    ...newLinks.map((link) => ({
      label: `link:${link.alias}`,
      put: { table, item: linkItem(message.tenantId, link) },
    })),
  ];
  const result = await writeAtomically(ddb, writes);
  if (result.ok) {
    return {
      kind: 'stored',
      conversationId,
      jobs: jobsOf({ tenantId: message.tenantId, messageId, jobs: jobsAttributes.jobs ?? {} }),
      ...(e164 ? { e164 } : {}),
      linkedNew: newLinks.length > 0,
      aliases,
    };
  }
  // Whatever refused the write, the route it used is read afresh next time.
  deps.routes?.forget(route.routeKey);
  if (result.failed === 'claim') throw new ClaimLostError('the claim was taken meanwhile');
  if (result.failed === 'message') {
    const current = result.current ? toMessageItem(result.current) : undefined;
    return { kind: 'duplicate', ...(current ? { current } : {}) };
  }
  const conversation = result.current ? toConversationItem(result.current) : undefined;
  if (result.failed === 'conversation' && conversation?.mergedInto !== undefined) {
    return {
      kind: 'merged',
      conversationId,
      keyNamed: route.existing?.conversationId ?? conversationId,
    };
  }
  return { kind: 'rerouted' };
}

/**
 * The failed put answered with the message as it stands (its jobs included), so a duplicate needs
 * no read of its own; a failed job is reset (guarded on its generation) and enqueued.
 */
async function handleDuplicate(
  deps: InboundDeps,
  messageId: string,
  answered?: MessageItem,
): Promise<StoreResult> {
  const stored = answered ?? (await readMessage(deps, messageId));
  const conversationId = stored?.conversationId ?? '';
  // The first delivery may have died before folding the aliases it linked: fold them now.
  if (stored?.e164 !== undefined && stored.aliases.length > 0)
    await foldLinkedAliases(deps, stored.tenantId, stored.e164, stored.aliases);
  const reset: Job[] = [];
  const jobs = messageJobs(deps);
  for (const job of jobsOf(stored)) {
    if (job.status !== 'failed') continue;
    const fresh = await jobs.resetFailed(job, deps.clock.now());
    if (fresh) reset.push(fresh);
  }
  if (reset.length > 0) {
    failpoint(AFTER_JOB_RESET);
    await enqueueJobs(deps.sqs, deps.jobsQueueUrl, reset);
  }
  return { messageId, conversationId, deduped: true };
}

async function readMessage(
  deps: Pick<InboundDeps, 'ddb' | 'table'>,
  messageId: string,
): Promise<MessageItem | undefined> {
  const item = await readItem(deps.ddb, deps.table, keys.message(messageId));
  return item ? toMessageItem(item) : undefined;
}
