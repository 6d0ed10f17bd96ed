/**
 * The business's own messages onceflow sends (replies), as messages of the person's one
 * conversation: their statuses, which only move forward, and the one rule that keeps a provider's
 * copy of a reply from filing it twice.
 *
 * A provider echoes a sent message back on its inbound webhook (Evolution's `fromMe`
 * `messages.upsert`, Unipile's `message_received` from the account's own user, GHL's outbound
 * message). That echo arrives through `storeMessage` like any inbound message, keyed by its provider
 * id (`messageKeys`), so its message id is `messageIdFor(tenant, echoKey)`. The reply's record write
 * (the provider id, as the very next write after the provider's answer) claims that same message
 * item in the same transaction, as an *echo alias* naming the reply (`replyOf`, no listing keys):
 *
 * - echo after the record: the inbound claim finds the item filed → a duplicate whose `replyOf`
 *   moves the reply to `sent` (never back) and files nothing;
 * - echo before the record: the echo is filed as an ordinary outbound message; the record write
 *   finds it and *adopts* it in the same transaction (marks it `replyOf`, drops its listing keys,
 *   its membership item and its count), so the thread shows the reply once;
 * - echo racing the record: both writes are conditional on the same item (`attribute_not_exists
 *   (conversationId)`), so exactly one files it and the other takes the branch above.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { LEASE_EXPIRES_AT, LEASE_OWNER } from '../kernel/lease.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import {
  conversationIdFor,
  conversationKey,
  keyItem,
  keys,
  type MessageItem,
  toKeyItem,
  toMessageItem,
} from './items.js';
import { resolveRoute } from './routing.js';

export const OUTBOUND_STATUSES = [
  'queued',
  'sending',
  'sent',
  'delivered',
  'read',
  'failed',
  'unknown',
] as const;
export type OutboundStatus = (typeof OUTBOUND_STATUSES)[number];

/** What a provider can say about a sent message (status webhook, echo, provider read). */
export type ProviderStatus = 'sent' | 'delivered' | 'read' | 'failed';

/**
 * The states a provider status may move a reply from. Forward only: `sent` < `delivered` < `read`;
 * evidence moves a `sending`, `unknown` or `failed` reply to what the provider reports (a late
 * status is proof of the send); a provider `failed` ends a reply not yet delivered.
 */
const MOVES_FROM: Readonly<Record<ProviderStatus, readonly OutboundStatus[]>> = {
  sent: ['queued', 'sending', 'unknown', 'failed'],
  delivered: ['queued', 'sending', 'unknown', 'failed', 'sent'],
  read: ['queued', 'sending', 'unknown', 'failed', 'sent', 'delivered'],
  failed: ['sending', 'unknown', 'sent'],
};

export function movesOutboundForward(from: OutboundStatus, to: ProviderStatus): boolean {
  return MOVES_FROM[to].includes(from);
}

interface OutboundDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly clock: Clock;
  readonly table: string;
}

const fromCondition = (to: ProviderStatus) => {
  const values: Record<string, unknown> = {};
  const names = MOVES_FROM[to].map((state, i) => {
    values[`:from${i}`] = state;
    return `:from${i}`;
  });
  return {
    expression: `#status IN (${names.join(', ')})`,
    names: { '#status': 'status' },
    values,
  };
};

/**
 * A provider's word on a reply (status webhook echoing the reply id, an echo, a provider read):
 * moves it forward only, and keeps the provider id when the reply had none yet (a send whose answer
 * was lost: the evidence completes it). A provider id other than the reply's own is refused.
 */
export async function advanceOutboundStatus(
  deps: OutboundDeps,
  tenantId: string,
  messageId: string,
  evidence: {
    readonly status: ProviderStatus;
    readonly providerMessageId?: string;
    readonly error?: string;
  },
): Promise<{ readonly matched: boolean; readonly applied: boolean }> {
  const now = isoTime(deps.clock);
  const pmid = evidence.providerMessageId;
  const result = await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: keys.message(messageId),
    set: {
      status: evidence.status,
      statusAt: now,
      ...(pmid ? { providerMessageId: pmid } : {}),
      ...(evidence.error ? { lastError: evidence.error.slice(0, 300) } : {}),
    },
    remove:
      evidence.status === 'failed' ? [] : [LEASE_OWNER, LEASE_EXPIRES_AT, 'sweepPk', 'sweepAt'],
    conditions: [
      {
        expression: 'tenantId = :tenant AND #dir = :out',
        names: { '#dir': 'direction' },
        values: { ':tenant': tenantId, ':out': 'out' },
      },
      fromCondition(evidence.status),
      ...(pmid
        ? [
            {
              expression: 'attribute_not_exists(#pmid) OR #pmid = :pmid',
              names: { '#pmid': 'providerMessageId' },
              values: { ':pmid': pmid },
            },
          ]
        : []),
    ],
  });
  if (result.applied) {
    countMetric('ReplyStatusApplied');
    return { matched: true, applied: true };
  }
  const current = result.current;
  return {
    matched: current?.tenantId === tenantId && current?.direction === 'out',
    applied: false,
  };
}

/** A reply's provider id as its record write needs it. */
export interface OutboundRecord {
  readonly tenantId: string;
  readonly messageId: string;
  readonly conversationId: string;
  readonly providerMessageId: string;
  /**
   * The message id the provider's echo of this send would be filed under
   * (`messageIdFor(tenant, messageKeys.<provider>(providerMessageId))`), when the provider echoes.
   */
  readonly echoMessageId?: string;
  /** Extra attributes of the reply set with the provider id (e.g. the sweep keys dropped). */
  readonly remove?: readonly string[];
}

/** The echo alias: a filed message item that says "this provider message is reply X". */
function echoAliasItem(record: OutboundRecord, echoMessageId: string, now: string) {
  return {
    ...keys.message(echoMessageId),
    kind: 'message',
    tenantId: record.tenantId,
    messageId: echoMessageId,
    conversationId: record.conversationId,
    direction: 'out',
    replyOf: record.messageId,
    providerMessageId: record.providerMessageId,
    createdAt: now,
  };
}

/**
 * The reply's record write: `sending` (or `unknown`/`failed`, when late) → `sent` with the provider
 * id, and in the same transaction the echo's message item, claimed as an alias or adopted if the
 * echo was filed first. Returns whether this write stored the id (false: a status or echo stored the
 * same id first, which is the same fact).
 */
export async function recordOutboundSent(
  deps: OutboundDeps,
  record: OutboundRecord,
): Promise<{ readonly stored: boolean; readonly adoptedEcho: boolean }> {
  // The echo item can change between the read and the write (an echo filed, or adopted, meanwhile):
  // then the transaction's echo condition fails and it runs again on a fresh read. An echo is filed
  // once, so this settles in two rounds; the bound only stops a bug from spinning.
  for (let round = 1; round <= 5; round++) {
    const outcome = await retryOnConflict(() => recordOnce(deps, record));
    if (outcome) return outcome;
  }
  throw new Error(`reply ${record.messageId}: its echo item kept moving`);
}

async function recordOnce(
  deps: OutboundDeps,
  record: OutboundRecord,
): Promise<{ readonly stored: boolean; readonly adoptedEcho: boolean } | undefined> {
  {
    const now = isoTime(deps.clock);
    const echoId = record.echoMessageId;
    const echo = echoId
      ? toMessageItem((await readItem(deps.ddb, deps.table, keys.message(echoId))) ?? {})
      : undefined;
    const adopt =
      echo?.conversationId !== undefined && echo.replyOf === undefined ? echo : undefined;
    const writes: AtomicWrite[] = [
      {
        label: 'reply',
        update: {
          table: deps.table,
          key: keys.message(record.messageId),
          update:
            'SET #status = :sent, #pmid = :pmid, updatedAt = :now, statusAt = :now ' +
            `REMOVE ${[LEASE_OWNER, LEASE_EXPIRES_AT, 'lastError', ...(record.remove ?? [])].join(', ')}`,
          condition:
            '#dir = :out AND #status IN (:sending, :unknown, :failed) AND attribute_not_exists(#pmid)',
          names: { '#status': 'status', '#pmid': 'providerMessageId', '#dir': 'direction' },
          values: {
            ':sent': 'sent',
            ':pmid': record.providerMessageId,
            ':now': now,
            ':out': 'out',
            ':sending': 'sending',
            ':unknown': 'unknown',
            ':failed': 'failed',
          },
        },
      },
      ...(echoId ? echoWrites(deps.table, record, echoId, adopt, now) : []),
    ];
    const result = await writeAtomically(deps.ddb, writes);
    if (result.ok) {
      if (adopt) countMetric('ReplyEchoAdopted');
      return { stored: true, adoptedEcho: adopt !== undefined };
    }
    const replyFailed = result.failures.some((f) => f.label === 'reply');
    const echoFailed = result.failures.some((f) => f.label !== 'reply');
    if (echoFailed) return undefined;
    if (replyFailed) {
      const reply = toMessageItem(
        (await readItem(deps.ddb, deps.table, keys.message(record.messageId))) ?? {},
      );
      if (reply?.providerMessageId === record.providerMessageId) {
        // A status webhook (or a provider read) stored the same id first: only the echo remains.
        if (echoId && !(await claimEchoAlone(deps, record, echoId))) return undefined;
        return { stored: false, adoptedEcho: false };
      }
      countMetric('ReplyProviderIdConflict');
      logger.error('reply holds another provider id than the one just accepted', {
        messageId: record.messageId,
        status: reply?.status,
      });
    }
    return { stored: false, adoptedEcho: false };
  }
}

function echoWrites(
  table: string,
  record: OutboundRecord,
  echoId: string,
  adopt: MessageItem | undefined,
  now: string,
): AtomicWrite[] {
  if (!adopt?.conversationId) {
    return [
      {
        label: 'echo-alias',
        put: {
          table,
          item: echoAliasItem(record, echoId, now),
          // New, or only an echo's claim (a delivery that has not filed it: its filing put will
          // now fail and find the alias).
          condition: 'attribute_not_exists(conversationId)',
        },
      },
    ];
  }
  // The echo was filed first: it becomes the alias, and leaves its conversation's listing.
  return [
    {
      label: 'echo-adopt',
      update: {
        table,
        key: keys.message(echoId),
        update: 'SET replyOf = :reply REMOVE gsi1pk, gsi1sk',
        condition: 'attribute_exists(conversationId) AND attribute_not_exists(replyOf)',
        values: { ':reply': record.messageId },
      },
    },
    {
      label: 'echo-member',
      delete: { table, key: keys.member(adopt.conversationId, echoId) },
    },
    {
      label: 'echo-count',
      update: {
        table,
        key: keys.conversation(adopt.conversationId),
        update: 'ADD messageCount :minus',
        condition: 'attribute_exists(pk)',
        values: { ':minus': -1 },
      },
    },
  ];
}

/** The echo alias (or adoption) without the reply write, when the reply already holds the id. */
async function claimEchoAlone(
  deps: OutboundDeps,
  record: OutboundRecord,
  echoId: string,
): Promise<boolean> {
  const now = isoTime(deps.clock);
  const echo = toMessageItem((await readItem(deps.ddb, deps.table, keys.message(echoId))) ?? {});
  if (echo?.replyOf !== undefined) return true;
  const result = await writeAtomically(
    deps.ddb,
    echoWrites(deps.table, record, echoId, echo?.conversationId ? echo : undefined, now),
  );
  return result.ok;
}

/**
 * An inbound duplicate whose item is an echo alias: the provider's copy of a reply onceflow sent.
 * It only moves the reply (to `sent`, never back) and files nothing.
 */
export async function applyEchoOfReply(
  deps: OutboundDeps,
  echo: MessageItem,
): Promise<{ readonly replyId: string } | undefined> {
  if (echo.replyOf === undefined) return undefined;
  countMetric('ReplyEchoMatched');
  await advanceOutboundStatus(deps, echo.tenantId, echo.replyOf, {
    status: 'sent',
    ...(echo.providerMessageId ? { providerMessageId: echo.providerMessageId } : {}),
  });
  return { replyId: echo.replyOf };
}

/** A reply id as onceflow hands it to providers as the correlation handle (`replies/items.ts`). */
export const REPLY_ID = /^r_[0-9a-f]{32}$/;

/**
 * A provider status about a sent message: the reply named by the correlation handle it echoes
 * (`biz_opaque_callback_data`), else the reply whose record write claimed the message item of that
 * provider id (`echoMessageId`). Undefined when the message is not a reply onceflow sent.
 */
export async function applyOutboundStatus(
  deps: OutboundDeps,
  tenantId: string,
  evidence: {
    readonly handle?: string;
    readonly echoMessageId: string;
    readonly providerMessageId: string;
    readonly status: ProviderStatus;
    readonly error?: string;
  },
): Promise<{ readonly matched: boolean; readonly applied: boolean } | undefined> {
  let replyId = evidence.handle && REPLY_ID.test(evidence.handle) ? evidence.handle : undefined;
  if (!replyId) {
    const alias = toMessageItem(
      (await readItem(deps.ddb, deps.table, keys.message(evidence.echoMessageId))) ?? {},
    );
    if (alias?.tenantId !== tenantId || alias.replyOf === undefined) return undefined;
    replyId = alias.replyOf;
  }
  return advanceOutboundStatus(deps, tenantId, replyId, {
    status: evidence.status,
    providerMessageId: evidence.providerMessageId,
    ...(evidence.error ? { error: evidence.error } : {}),
  });
}

/**
 * The person's one conversation for a message onceflow starts (`POST /v1/messages`), by the same
 * identity rules as inbound: a lead's conversation key, else the phone's route (links and aliases
 * followed). A phone never seen gets the conversation inbound would have created for it
 * (`conversationIdFor(routeKey)`, deterministic), returned with the writes that create it, to be
 * committed in the same transaction as the message.
 */
export async function conversationForTarget(
  deps: Pick<OutboundDeps, 'ddb' | 'table'>,
  tenantId: string,
  target: { readonly leadId: string } | { readonly e164: string },
  now: string,
): Promise<
  { readonly conversationId: string; readonly create?: readonly AtomicWrite[] } | undefined
> {
  if ('leadId' in target) {
    const raw = await readItem(
      deps.ddb,
      deps.table,
      keys.conversationKey(conversationKey(tenantId, { leadId: target.leadId })),
    );
    const key = raw ? toKeyItem(raw) : undefined;
    return key ? { conversationId: key.conversationId } : undefined;
  }
  const route = await resolveRoute(deps, tenantId, { e164: target.e164, aliases: [] });
  if (route.existing) return { conversationId: route.existing.conversationId };
  const conversationId = conversationIdFor(route.routeKey);
  return {
    conversationId,
    create: [
      {
        label: 'conversation-key',
        put: {
          table: deps.table,
          item: keyItem(tenantId, route.routeKey, {
            conversationId,
            conversationKey: route.routeKey,
          }),
          condition: 'attribute_not_exists(pk)',
        },
      },
      {
        label: 'new-conversation',
        put: {
          table: deps.table,
          item: {
            ...keys.conversation(conversationId),
            tenantId,
            conversationId,
            conversationKey: route.routeKey,
            e164: target.e164,
            createdAt: now,
            messageCount: 0,
            gsi1pk: keys.listingOf(tenantId, conversationId),
          },
          condition: 'attribute_not_exists(pk)',
        },
      },
    ],
  };
}
