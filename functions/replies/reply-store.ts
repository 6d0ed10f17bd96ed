/**
 * Creating, reading and operator-retrying replies (api.md, "Replies").
 *
 * A reply is created in one transaction with its conversation: the reply item (a listed outbound
 * message, `queued`, conditional on not existing: its id comes from the `Idempotency-Key`), its
 * membership item and the conversation's count and recency. Then its doorbell goes on the `replies`
 * FIFO queue (group: the conversation, so one person's replies leave in order; deduplication id: the
 * reply). A crash between the two leaves a `queued` reply due on the reconcile sweep, which rings it
 * again: a doorbell is only ever a hint, the reply item decides.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type ConversationItem,
  conversationForTarget,
  keys as conversationKeys,
  memberItem,
  toConversationItem,
} from '../conversations/index.js';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { ConflictError, HttpError, NotFoundError } from '../kernel/errors.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { enqueueFifo } from '../kernel/fifo.js';
import { readItem } from '../kernel/read-item.js';
import { sha256Hex } from '../kernel/secrets.js';
import { countMetric } from '../kernel/telemetry.js';
import type { ReplyChannelName, ReplyTemplate } from './channel.js';
import { newReplyItem, type ReplyItem, type ReplySource, replyKeys, toReplyItem } from './items.js';

export const FP_CREATE_AFTER_STORED = defineFailpoint(
  'reply.create.after-stored',
  'reply written (queued, in its conversation), its doorbell not yet enqueued',
);
export const FP_RETRY_AFTER_REQUEUED = defineFailpoint(
  'reply.retry.after-requeued',
  'an operator retry moved the reply back to queued, its doorbell not yet enqueued',
);

export interface ReplyDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly clock: Clock;
  /** The inbound table: conversations and their messages. */
  readonly table: string;
  readonly queueUrl: string;
}

/** The 24-hour customer service window of the WhatsApp Cloud API (Meta: "Customer service windows"). */
export const SERVICE_WINDOW_MS = 24 * 3600 * 1000;

/** The sending accounts a tenant has per channel (from its configuration). */
export type TenantChannels = Readonly<Partial<Record<ReplyChannelName, string>>>;

export interface ReplyRequest {
  readonly body: string;
  readonly channel?: ReplyChannelName;
  readonly template?: ReplyTemplate;
  readonly source?: ReplySource;
  readonly subject?: string;
  readonly telemetrySource?: string;
}

export class UnprocessableError extends HttpError {
  constructor(code: 'channel_unavailable' | 'outside_service_window', message: string) {
    super(422, code, message);
    this.name = 'UnprocessableError';
  }
}

/** Channels whose provider answers a thread (Unipile): the address is the person's latest one there. */
const THREAD_CHANNELS: ReadonlySet<ReplyChannelName> = new Set([
  'linkedin',
  'instagram',
  'telegram',
  'email',
]);

/** Where a reply goes: its channel, the person's address on it and the tenant's sending account. */
function routeReply(
  conversation: ConversationItem,
  request: ReplyRequest,
  channels: TenantChannels,
  now: number,
): { channel: ReplyChannelName; to: string; from: string; replyTo?: string } {
  const latest = conversation.lastInboundChannel as ReplyChannelName | undefined;
  const channel = request.channel ?? latest ?? 'whatsapp';
  // Thread channels: the chat (or address) and the tenant's account of the person's latest inbound
  // message there, while the tenant still has that channel; phone channels: the conversation's phone.
  const thread = THREAD_CHANNELS.has(channel) ? conversation.replyAddresses?.[channel] : undefined;
  const from = thread ? channels[channel] && thread.accountId : channels[channel];
  const to =
    channel === 'whatsapp' || channel === 'whatsapp_web' || channel === 'sms'
      ? conversation.e164
      : thread?.to;
  if (!from || !to) {
    throw new UnprocessableError(
      'channel_unavailable',
      `This conversation cannot be answered on ${channel}: the tenant or the person has no ${channel} address.`,
    );
  }
  if (channel === 'whatsapp' && !request.template) {
    const last = conversation.lastWhatsAppInboundAt;
    if (!last || Date.parse(last) + SERVICE_WINDOW_MS <= now) {
      throw new UnprocessableError(
        'outside_service_window',
        'WhatsApp free-form text is only allowed within 24 hours of the person’s last message; send a template.',
      );
    }
  }
  return { channel, to, from, ...(thread?.replyTo ? { replyTo: thread.replyTo } : {}) };
}

export async function liveConversation(
  deps: Pick<ReplyDeps, 'ddb' | 'table'>,
  tenantId: string,
  conversationId: string,
): Promise<ConversationItem> {
  let id = conversationId;
  // A merged conversation answers for its survivor (as its message listing does).
  for (let hop = 0; hop <= 3; hop++) {
    const raw = await readItem(deps.ddb, deps.table, conversationKeys.conversation(id));
    const conversation = raw ? toConversationItem(raw) : undefined;
    if (!conversation || conversation.tenantId !== tenantId) break;
    if (conversation.mergedInto === undefined) return conversation;
    id = conversation.mergedInto;
  }
  throw new NotFoundError('No such conversation.');
}

/** The reply's conversation changed between its read and the reply's write. */
export class ConversationMovedError extends ConflictError {
  constructor() {
    super('The conversation changed while the reply was written; retry.');
    this.name = 'ConversationMovedError';
  }
}

/** What creating one reply takes (`createReply`, `createMessageTo`). */
export interface CreateReplyInput {
  readonly tenantId: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly request: ReplyRequest;
  readonly channels: TenantChannels;
  /**
   * What "the same request" means for this id; the request itself by default. A caller whose
   * request is not reproducible (an AI draft: another run may word it differently) names its own
   * identity, so any retry of it answers the first reply instead of a mismatch.
   */
  readonly identity?: string;
  /** A conversation that does not exist yet (`POST /v1/messages` to a new person): its writes. */
  readonly newConversation?: {
    readonly e164: string;
    readonly writes: readonly AtomicWrite[];
  };
}

/**
 * Creates the reply `messageId` in the conversation, once: a second call with the same id and the
 * same request answers the first reply; another request under that id is 409
 * `idempotency_key_mismatch`, whatever happened in between. A conversation merged while the reply
 * is written is followed to its survivor (`liveConversation` reads the merge marker again), as
 * `createMessageTo` routes again: the merge is the service's own doing, never the client's 409.
 */
export async function createReply(
  deps: ReplyDeps,
  input: CreateReplyInput,
): Promise<{ messageId: string; status: 'queued'; created: boolean }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeReply(deps, input);
    } catch (error) {
      const routedAgain = input.newConversation === undefined && attempt < MAX_ROUTE_ATTEMPTS;
      if (!(error instanceof ConversationMovedError) || !routedAgain) throw error;
    }
  }
}

async function writeReply(
  deps: ReplyDeps,
  input: CreateReplyInput,
): Promise<{ messageId: string; status: 'queued'; created: boolean }> {
  const requestHash = sha256Hex(input.identity ?? JSON.stringify(input.request));
  const existing = toReplyItem(
    await readItem(deps.ddb, deps.table, replyKeys.reply(input.messageId)),
  );
  if (existing) return answerExisting(deps, existing, input.tenantId, requestHash);

  const fresh = input.newConversation;
  const conversation: ConversationItem = fresh
    ? {
        conversationId: input.conversationId,
        conversationKey: '',
        tenantId: input.tenantId,
        e164: fresh.e164,
        messageCount: 0,
      }
    : await liveConversation(deps, input.tenantId, input.conversationId);
  const now = deps.clock.now();
  const route = routeReply(conversation, input.request, input.channels, now);
  const createdAt = isoTime(deps.clock);
  const conversationId = conversation.conversationId;
  const item = newReplyItem(
    {
      tenantId: input.tenantId,
      messageId: input.messageId,
      conversationId,
      channel: route.channel,
      body: input.request.body,
      source: input.request.source ?? 'agent',
      to: route.to,
      from: route.from,
      ...(route.replyTo ? { replyTo: route.replyTo } : {}),
      createdAt,
      requestHash,
      ...(input.request.subject !== undefined ? { subject: input.request.subject } : {}),
      ...(input.request.template ? { template: input.request.template } : {}),
      ...(input.request.telemetrySource ? { telemetrySource: input.request.telemetrySource } : {}),
    },
    // Looked at again by the sweep if no sender claimed it within a minute.
    new Date(now + 60_000).toISOString(),
  );
  const written = await writeAtomically(deps.ddb, [
    {
      label: 'reply',
      put: { table: deps.table, item, condition: 'attribute_not_exists(pk)' },
    },
    {
      label: 'member',
      put: {
        table: deps.table,
        item: memberItem({
          tenantId: input.tenantId,
          messageId: input.messageId,
          conversationId,
          createdAt,
        }),
      },
    },
    // A new conversation is put whole, already counting this reply (one write per item).
    ...(fresh
      ? fresh.writes.map((write) =>
          'put' in write && write.label === 'new-conversation'
            ? {
                ...write,
                put: {
                  ...write.put,
                  item: {
                    ...write.put.item,
                    lastMessageAt: createdAt,
                    gsi1sk: conversationKeys.listingSort(createdAt, conversationId),
                    messageCount: 1,
                  },
                },
              }
            : write,
        )
      : [conversationWrite(deps.table, input.tenantId, conversationId, createdAt)]),
  ]);
  if (!written.ok) {
    if (written.failed === 'reply') {
      const raced = toReplyItem(written.current);
      if (raced) return answerExisting(deps, raced, input.tenantId, requestHash);
    }
    // The conversation was merged or moved under us (or, for a new person, created by a racing
    // message): routed again by `createMessageTo`, else the client's retry.
    throw new ConversationMovedError();
  }
  countMetric('ReplyCreated');
  failpoint(FP_CREATE_AFTER_STORED);
  await ringReply(deps, { tenantId: input.tenantId, messageId: input.messageId, conversationId });
  return { messageId: input.messageId, status: 'queued', created: true };
}

/**
 * `POST /v1/messages`: the reply `messageId` to a person by lead or phone, in their one
 * conversation, found (or, for a phone never seen, created with the reply) by the inbound identity
 * rules (`conversationForTarget`: key items read strongly consistently, never an index).
 */
export async function createMessageTo(
  deps: ReplyDeps,
  input: {
    readonly tenantId: string;
    readonly target: { readonly leadId: string } | { readonly e164: string };
    readonly messageId: string;
    readonly request: ReplyRequest;
    readonly channels: TenantChannels;
  },
): Promise<{ messageId: string; status: 'queued'; created: boolean }> {
  const { target, ...rest } = input;
  // A phone never seen races its own first message (inbound, or another POST): the loser's
  // conversation writes fail their conditions, and a second route finds the winner's conversation.
  for (let attempt = 1; ; attempt++) {
    const found = await conversationForTarget(deps, input.tenantId, target, isoTime(deps.clock));
    if (!found) throw new NotFoundError('No conversation of this lead.');
    try {
      return await writeReply(deps, {
        ...rest,
        conversationId: found.conversationId,
        ...(found.create && 'e164' in target
          ? { newConversation: { e164: target.e164, writes: found.create } }
          : {}),
      });
    } catch (error) {
      if (!(error instanceof ConversationMovedError) || attempt >= MAX_ROUTE_ATTEMPTS) throw error;
    }
  }
}

/**
 * Routes of one reply: a race with a new person's first message, or with a merge of the
 * conversation (one merge marks it once), settles in two.
 */
const MAX_ROUTE_ATTEMPTS = 3;

async function answerExisting(
  deps: ReplyDeps,
  existing: ReplyItem,
  tenantId: string,
  requestHash: string,
): Promise<{ messageId: string; status: 'queued'; created: boolean }> {
  if (existing.tenantId !== tenantId || existing.requestHash !== requestHash) {
    throw new ConflictError(
      'This Idempotency-Key was used with another request.',
      'idempotency_key_mismatch',
    );
  }
  // The first call may have crashed before its doorbell: ring again (FIFO dedupes a double ring).
  if (existing.status === 'queued') await ringReply(deps, existing);
  return { messageId: existing.messageId, status: 'queued', created: false };
}

/** The doorbell of a reply: the sender re-reads the reply, so a double or late ring is harmless. */
export function ringReply(
  deps: Pick<ReplyDeps, 'sqs' | 'queueUrl'>,
  reply: Pick<ReplyItem, 'tenantId' | 'messageId' | 'conversationId'>,
  ring = 0,
): Promise<void> {
  return enqueueFifo(deps.sqs, deps.queueUrl, [
    {
      body: { tenantId: reply.tenantId, messageId: reply.messageId },
      groupId: reply.conversationId,
      // Each ring its own identity: a re-ring after SQS's 5-minute dedupe window must not be dropped.
      identity: `reply|${reply.messageId}|${ring}`,
    },
  ]);
}

export async function getReply(
  deps: Pick<ReplyDeps, 'ddb' | 'table'>,
  tenantId: string,
  messageId: string,
): Promise<ReplyItem> {
  const reply = toReplyItem(await readItem(deps.ddb, deps.table, replyKeys.reply(messageId)));
  if (!reply || reply.tenantId !== tenantId) throw new NotFoundError('No such message.');
  return reply;
}

/**
 * The operator's explicit retry of a `failed` or `unknown` reply: back to `queued` (recorded on
 * it), rung again. Any other state is 409: a reply that may have been sent is never resent blind.
 */
export async function retryReply(
  deps: ReplyDeps,
  tenantId: string,
  messageId: string,
): Promise<void> {
  const reply = await getReply(deps, tenantId, messageId);
  const now = deps.clock.now();
  const moved = await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: replyKeys.reply(messageId),
    set: {
      status: 'queued',
      updatedAt: new Date(now).toISOString(),
      sweepPk: replyKeys.sweepOf(messageId),
      sweepAt: new Date(now + 60_000).toISOString(),
    },
    add: { operatorRetries: 1 },
    // A reply the provider reported `failed` carries the id of that attempt: the new one gets its own.
    remove: ['providerMessageId', 'lastError'],
    conditions: [
      {
        expression: '#st IN (:failed, :unknown)',
        names: { '#st': 'status' },
        values: { ':failed': 'failed', ':unknown': 'unknown' },
      },
    ],
  });
  if (!moved.applied) {
    throw new ConflictError(
      `Only a failed or unknown reply can be retried (it is ${reply.status}).`,
    );
  }
  countMetric('ReplyOperatorRetried');
  failpoint(FP_RETRY_AFTER_REQUEUED);
  await ringReply(deps, reply, reply.attempts + reply.operatorRetries + 1);
}

/** The conversation's count and recency, moved by a reply (a live, unmerged conversation only). */
function conversationWrite(
  table: string,
  tenantId: string,
  conversationId: string,
  createdAt: string,
): AtomicWrite {
  return {
    label: 'conversation',
    update: {
      table,
      key: conversationKeys.conversation(conversationId),
      update: 'SET lastMessageAt = :at, gsi1sk = :sort ADD messageCount :one',
      condition: 'attribute_exists(pk) AND tenantId = :t AND attribute_not_exists(mergedInto)',
      values: {
        ':at': createdAt,
        ':sort': conversationKeys.listingSort(createdAt, conversationId),
        ':one': 1,
        ':t': tenantId,
      },
    },
  };
}
