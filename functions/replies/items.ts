/**
 * The replies context's items. A reply is a message of the person's one conversation, so it lives
 * where the conversation's messages live (the `inbound` table, `MSG#<messageId> / MSG`, listed on
 * `gsi1` under its conversation: the conversations context's `keys`), with the fields of its send:
 * status, attempts, lease, the request it came from. Only this file builds or parses them.
 *
 * Its own key: the reconcile sweep, `RSWEEP#<shard>` on the inbound table's `jobsweep` index (keys
 * only), sort key the time the reply is due to be looked at (a queued reply whose doorbell may be
 * lost, a send whose outcome is unknown). Sixteen shards: a reply is swept at most twice (queued,
 * sending), so at 1,000 replies/s a shard takes ~125 index writes/s, far under a partition's 1,000.
 */

import { keys, OUTBOUND_STATUSES, type OutboundStatus } from '../conversations/index.js';
import type { Item } from '../kernel/put-once.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { ReplyChannelName, ReplyTemplate } from './channel.js';

export type Key = { readonly pk: string; readonly sk: string };

export const REPLY_SWEEP_SHARDS = 16;
/** The inbound table's sparse sweep index (`lib/manifest.ts`, `JOB_SWEEP`: keys only). */
export const REPLY_SWEEP_INDEX = 'jobsweep';

export const REPLY_SOURCES = ['agent', 'bot', 'ai'] as const;
export type ReplySource = (typeof REPLY_SOURCES)[number];

export type ReplyStatus = OutboundStatus;

export const replyKeys = {
  reply: (messageId: string): Key => keys.message(messageId),
  member: (conversationId: string, messageId: string): Key =>
    keys.member(conversationId, messageId),
  conversation: (conversationId: string): Key => keys.conversation(conversationId),
  sweep: (shard: number) => `RSWEEP#${shard}`,
  sweepOf: (messageId: string) =>
    replyKeys.sweep(Number.parseInt(sha256Hex(messageId).slice(0, 4), 16) % REPLY_SWEEP_SHARDS),
};

/**
 * A reply's id from its tenant and `Idempotency-Key`: the same key always names the same reply,
 * whatever happened in between (a crash after the write, the kernel's key record expired).
 */
export function replyIdFor(tenantId: string, idempotencyKey: string): string {
  return `r_${sha256Hex(`reply|${tenantId}|${idempotencyKey}`).slice(0, 32)}`;
}

/**
 * The AI reply to an inbound message (`ai_triage`): one per message, whatever the job's runs. Its own
 * hash domain, so no operator's `Idempotency-Key` can name it.
 */
export function aiReplyIdFor(tenantId: string, inboundMessageId: string): string {
  return `r_${sha256Hex(`ai-reply|${tenantId}|${inboundMessageId}`).slice(0, 32)}`;
}

export interface ReplyItem {
  readonly tenantId: string;
  readonly messageId: string;
  readonly conversationId: string;
  readonly channel: ReplyChannelName;
  readonly status: ReplyStatus;
  readonly body: string;
  readonly subject?: string;
  readonly template?: ReplyTemplate;
  readonly source: ReplySource;
  /** The provider-side address (`ReplySend.to`). */
  readonly to: string;
  /** The sending account (`ReplySend.from`). */
  readonly from: string;
  /** The provider's id of the message answered, where the provider threads by it (`ReplySend.replyTo`). */
  readonly replyTo?: string;
  readonly providerMessageId?: string;
  readonly attempts: number;
  readonly unknownRetries: number;
  readonly operatorRetries: number;
  readonly lastError?: string;
  readonly createdAt: string;
  readonly sendingSince?: string;
  readonly leaseExpiresAt?: number;
  /** sha256 of the request that created it: the same key with another body is a mismatch. */
  readonly requestHash: string;
  /** The telemetry source of its spend (`ai_triage` for AI replies). */
  readonly telemetrySource?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** A reply from its stored item; undefined when the item is not a reply (e.g. an inbound message). */
export function toReplyItem(item: Item | undefined): ReplyItem | undefined {
  if (item?.kind !== 'message' || item.direction !== 'out') return undefined;
  const status = OUTBOUND_STATUSES.find((s) => s === item.status);
  const source = REPLY_SOURCES.find((s) => s === item.source);
  const requestHash = str(item.requestHash);
  if (!status || !source || !requestHash || typeof item.messageId !== 'string') return undefined;
  const template = item.template as ReplyTemplate | undefined;
  const optional = {
    subject: str(item.subject),
    replyTo: str(item.replyTo),
    template: template && typeof template.name === 'string' ? template : undefined,
    providerMessageId: str(item.providerMessageId),
    lastError: str(item.lastError),
    sendingSince: str(item.sendingSince),
    leaseExpiresAt: typeof item.leaseExpiresAt === 'number' ? item.leaseExpiresAt : undefined,
    telemetrySource: str(item.telemetrySource),
  };
  return {
    tenantId: String(item.tenantId),
    messageId: item.messageId,
    conversationId: String(item.conversationId),
    channel: String(item.channel) as ReplyChannelName,
    status,
    body: str(item.body) ?? '',
    source,
    to: String(item.to),
    from: String(item.from),
    attempts: num(item.attempts),
    unknownRetries: num(item.unknownRetries),
    operatorRetries: num(item.operatorRetries),
    createdAt: String(item.createdAt),
    requestHash,
    ...(Object.fromEntries(
      Object.entries(optional).filter(([, v]) => v !== undefined),
    ) as Partial<ReplyItem>),
  };
}

/** The new reply's item: a filed outbound message of its conversation, listed, `queued`. */
export function newReplyItem(
  reply: Omit<
    ReplyItem,
    'status' | 'attempts' | 'unknownRetries' | 'operatorRetries' | 'providerMessageId'
  >,
  dueAt: string,
): Item {
  return {
    ...replyKeys.reply(reply.messageId),
    kind: 'message',
    direction: 'out',
    ...Object.fromEntries(Object.entries(reply).filter(([, v]) => v !== undefined)),
    receivedAt: reply.createdAt,
    aliases: [],
    status: 'queued',
    attempts: 0,
    unknownRetries: 0,
    operatorRetries: 0,
    gsi1pk: keys.conversationMessages(reply.conversationId),
    gsi1sk: keys.messageSort(reply.createdAt, reply.messageId),
    // Due for the reconcile sweep if its doorbell is lost before the sender claims it.
    sweepPk: replyKeys.sweepOf(reply.messageId),
    sweepAt: dueAt,
  };
}

/** What `GET /v1/messages/{id}` answers (api.md, "Replies"). */
export function replyView(reply: ReplyItem) {
  return {
    messageId: reply.messageId,
    conversationId: reply.conversationId,
    direction: 'out' as const,
    channel: reply.channel,
    status: reply.status,
    providerMessageId: reply.providerMessageId ?? null,
    attempts: reply.attempts,
    lastError: reply.lastError ?? null,
    source: reply.source,
    createdAt: reply.createdAt,
  };
}
