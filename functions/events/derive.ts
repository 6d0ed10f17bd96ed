/**
 * One event per effect: from one change of an effect's item (a stream record's old and new image)
 * to the events it is, pure. A change that is no transition a platform is told about (a job's
 * state on a message, a lease, a counter, a `sent` becoming `delivered`) yields none.
 *
 * The event id is a hash of the event type, the effect's identity and the transition it records
 * (the status moved to, the attempt, the completion time), never of the stream record's id or the
 * time it was read: a record seen twice, a batch retried or bisected, a shard read by two pollers
 * all give the same id, which is what the delivery half deduplicates on (Standard Webhooks'
 * `webhook-id`). 160 bits of SHA-256: a collision among 10^12 events has odds of ~10^-25.
 *
 * `entityKey` is a hash too: per conversation (its messages and its merge), per campaign recipient,
 * per campaign, per conversion. A hash because the delivery half uses it as an SQS message group
 * (at most 128 characters, tenant ids alone may have 256) and because a recipient's entity is its
 * phone, which never goes into a queue attribute or a log line.
 *
 * `data` holds ids, statuses and times; never a message body, a name or a secret.
 */

import { RECIPIENT_STATUSES } from '../campaigns/index.js';
import type { ConversationItem, MessageItem } from '../conversations/index.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { StreamChange } from '../kernel/stream-consumer.js';
import {
  type CampaignEffect,
  type EffectItem,
  type LedgerConversionEffect,
  type OciConversionEffect,
  type RecipientEffect,
  type RecipientStatus,
  readEffectItem,
} from './effect-items.js';
import type { EventData, EventType, OnceflowEvent } from './model.js';

/** One committed change of one item (the kernel's stream edge reads it from the record). */
export type ChangeRecord = Pick<
  StreamChange,
  'eventName' | 'oldImage' | 'newImage' | 'committedAt'
>;

export function deriveEvents(record: ChangeRecord): OnceflowEvent[] {
  if (record.eventName === 'REMOVE') return [];
  const after = readEffectItem(record.newImage);
  if (!after) return [];
  const before = readEffectItem(record.oldImage);
  const at = record.committedAt;
  switch (after.kind) {
    case 'message':
      return messageEvents(previous(before, 'message'), after.item);
    case 'conversation':
      return mergeEvents(previous(before, 'conversation'), after.item, at);
    case 'recipient':
      return recipientEvents(previous(before, 'recipient'), after.item);
    case 'campaign':
      return campaignEvents(previous(before, 'campaign'), after.item, at);
    case 'ociConversion':
      return ociEvents(previous(before, 'ociConversion'), after.item, at);
    case 'ledgerConversion':
      return before ? [] : [ledgerEvent(after.item)];
  }
}

/** Each kind of effect's item. */
type EffectOf = { [E in EffectItem as E['kind']]: E['item'] };

/** The item before the change when it was the same kind of effect (else a creation). */
function previous<K extends keyof EffectOf>(
  before: EffectItem | undefined,
  kind: K,
): EffectOf[K] | undefined {
  return before?.kind === kind ? (before.item as EffectOf[K]) : undefined;
}

/** The event id: the type, the effect's identity and the transition, hashed. */
export function eventIdOf(type: EventType, ...identity: ReadonlyArray<string | number>): string {
  return `evt_${sha256Hex([type, ...identity.map(String)].join('\u0000')).slice(0, 40)}`;
}

/** The entity whose events reach an endpoint in order. */
export function entityKeyOf(kind: string, tenantId: string, id: string): string {
  return `${kind}_${sha256Hex(`${kind}\u0000${tenantId}\u0000${id}`).slice(0, 40)}`;
}

function event(
  type: EventType,
  identity: ReadonlyArray<string | number>,
  fields: { tenantId: string; entityKey: string; occurredAt: string; data: EventData },
): OnceflowEvent {
  return {
    eventId: eventIdOf(type, fields.tenantId, ...identity),
    type,
    tenantId: fields.tenantId,
    entityKey: fields.entityKey,
    occurredAt: fields.occurredAt,
    data: { tenantId: fields.tenantId, ...fields.data },
  };
}

const conversationEntity = (tenantId: string, conversationId: string) =>
  entityKeyOf('conversation', tenantId, conversationId);

/**
 * A message is told once, when it is filed into its conversation (a claim is not a message). A
 * reply (a message with a send `status`, `functions/replies`) is told by its send instead: once
 * `message.sent` when its provider accepts it, then once `message.status` per later status
 * (delivered, read, failed, unknown); being queued or claimed is no event. An echo alias (a
 * provider's copy of a reply, kept only to match it: `replyOf`) is never a message of its own.
 */
function messageEvents(before: MessageItem | undefined, after: MessageItem): OnceflowEvent[] {
  if (after.replyOf !== undefined) return [];
  const { conversationId, direction, createdAt } = after;
  if (conversationId === undefined || direction === undefined || createdAt === undefined) return [];
  if (after.status !== undefined) return replyEvents(before, after, conversationId, createdAt);
  if (before?.conversationId !== undefined) return [];
  const type = direction === 'in' ? 'message.received' : 'message.sent';
  return [
    event(type, [after.messageId], {
      tenantId: after.tenantId,
      entityKey: conversationEntity(after.tenantId, conversationId),
      occurredAt: createdAt,
      data: {
        conversationId,
        messageId: after.messageId,
        direction,
        channel: after.channel ?? null,
        providerMessageId: after.providerMessageId ?? null,
      },
    }),
  ];
}

/** Reply statuses told to the platform; `queued` and `sending` are the send's own business. */
const TOLD_REPLY_STATUSES = new Set(['sent', 'delivered', 'read', 'failed', 'unknown']);

function replyEvents(
  before: MessageItem | undefined,
  after: MessageItem,
  conversationId: string,
  createdAt: string,
): OnceflowEvent[] {
  const status = after.status;
  if (status === undefined || status === before?.status || !TOLD_REPLY_STATUSES.has(status)) {
    return [];
  }
  const type = status === 'sent' ? 'message.sent' : 'message.status';
  return [
    // One id per (reply, status): a status the reply reaches again after a retry is the same event.
    event(type, [after.messageId, status], {
      tenantId: after.tenantId,
      entityKey: conversationEntity(after.tenantId, conversationId),
      occurredAt: after.statusAt ?? createdAt,
      data: {
        conversationId,
        messageId: after.messageId,
        direction: 'out',
        channel: after.channel ?? null,
        status,
        providerMessageId: after.providerMessageId ?? null,
      },
    }),
  ];
}

/** A conversation folded into another: once, when `mergedInto` is first set. */
function mergeEvents(
  before: ConversationItem | undefined,
  after: ConversationItem,
  committedAt: string,
): OnceflowEvent[] {
  if (after.mergedInto === undefined || before?.mergedInto !== undefined) return [];
  const tenantId = after.tenantId;
  if (tenantId === undefined) return [];
  return [
    event('conversation.merged', [after.conversationId], {
      tenantId,
      entityKey: conversationEntity(tenantId, after.conversationId),
      occurredAt: committedAt,
      data: { conversationId: after.conversationId, mergedInto: after.mergedInto },
    }),
  ];
}

/** Statuses a send ends in; `pending` and `sending` are on the way. */
const SETTLED: ReadonlySet<RecipientStatus> = new Set(
  RECIPIENT_STATUSES.filter((status) => status !== 'pending' && status !== 'sending'),
);
const WENT_OUT: ReadonlySet<RecipientStatus> = new Set(['sent', 'delivered', 'read']);

/**
 * A recipient is finished when its send settles: it leaves `pending`/`sending` (or is added
 * already `skipped`), or the provider's word turns a `failed`/`unknown` outcome into one that went
 * out. Delivery progress after that (`sent` → `delivered` → `read`) is not a second finish. The
 * attempt number is part of the transition: an operator's retry of an `unknown` send that ends
 * `unknown` again is a new finish.
 */
function recipientEvents(
  before: RecipientEffect | undefined,
  after: RecipientEffect,
): OnceflowEvent[] {
  if (!SETTLED.has(after.status)) return [];
  const wasSettled = before !== undefined && SETTLED.has(before.status);
  const outcomeChanged = wasSettled && !WENT_OUT.has(before.status) && WENT_OUT.has(after.status);
  if (wasSettled && !outcomeChanged) return [];
  return [
    event(
      'campaign.recipient.finished',
      [after.campaignId, after.phone, after.status, after.attempts],
      {
        tenantId: after.tenantId,
        entityKey: entityKeyOf(
          'recipient',
          after.tenantId,
          `${after.campaignId}\u0000${after.phone}`,
        ),
        occurredAt: after.updatedAt,
        data: {
          campaignId: after.campaignId,
          phone: after.phone,
          status: after.status,
          attempts: after.attempts,
          providerMessageId: after.providerMessageId ?? null,
        },
      },
    ),
  ];
}

/** A campaign completes once per completion (an operator's retry can reopen and complete it again). */
function campaignEvents(
  before: CampaignEffect | undefined,
  after: CampaignEffect,
  committedAt: string,
): OnceflowEvent[] {
  if (after.status !== 'completed' || before?.status === 'completed') return [];
  const occurredAt = after.completedAt ?? committedAt;
  return [
    event('campaign.completed', [after.campaignId, occurredAt], {
      tenantId: after.tenantId,
      entityKey: entityKeyOf('campaign', after.tenantId, after.campaignId),
      occurredAt,
      data: { campaignId: after.campaignId, status: after.status },
    }),
  ];
}

/** Google's answer on a conversion (counted or refused), and its retraction, each once. */
function ociEvents(
  before: OciConversionEffect | undefined,
  after: OciConversionEffect,
  committedAt: string,
): OnceflowEvent[] {
  const entityKey = entityKeyOf('oci', after.tenantId, after.conversionId);
  const data = {
    conversionId: after.conversionId,
    orderId: after.orderId,
    callId: after.callId,
    sessionId: after.sessionId,
  };
  const events: OnceflowEvent[] = [];
  if (after.status === 'completed' && before?.status !== 'completed') {
    events.push(
      event('oci.conversion.completed', [after.conversionId], {
        tenantId: after.tenantId,
        entityKey,
        occurredAt: after.completedAt ?? committedAt,
        data: { ...data, status: after.status },
      }),
    );
  }
  if (after.status === 'failed' && before?.status !== 'failed') {
    events.push(
      event('oci.conversion.failed', [after.conversionId], {
        tenantId: after.tenantId,
        entityKey,
        occurredAt: committedAt,
        data: { ...data, status: after.status, error: after.lastError ?? null },
      }),
    );
  }
  if (after.retractedAt !== undefined && before?.retractedAt === undefined) {
    events.push(
      event('oci.conversion.retracted', [after.conversionId], {
        tenantId: after.tenantId,
        entityKey,
        occurredAt: after.retractedAt,
        data: { ...data, status: after.status },
      }),
    );
  }
  return events;
}

/** A ledger conversion is logged once: its item is created once (`attribute_not_exists`). */
function ledgerEvent(after: LedgerConversionEffect): OnceflowEvent {
  return event('ledger.conversion.logged', [after.conversionId], {
    tenantId: after.tenantId,
    entityKey: entityKeyOf('ledger', after.tenantId, after.conversionId),
    occurredAt: after.loggedAt,
    data: {
      conversionId: after.conversionId,
      userId: after.userId,
      type: after.type,
      queueType: after.queueType,
      stayId: after.stayId,
      source: after.source,
      evidenceOccurredAt: after.occurredAt,
    },
  });
}
