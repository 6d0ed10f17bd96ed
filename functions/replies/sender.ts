/**
 * Sending one reply, from its doorbell on the `replies` queue, with the kernel's outbound-effect
 * discipline (`kernel/outbound-effect.ts`, the same steps as the campaign sender):
 *
 *   re-read → skip unless queued → the number's send token (the bucket campaigns take from, so a
 *   number's replies and campaign sends share its rate) → claim (queued → sending, lease, attempt)
 *   → the channel's call with the reply id as correlation handle → the provider id (and the echo's
 *   message item) as the very next write (`recordOutboundSent`).
 *
 * An unknown outcome leaves the reply `sending` without a provider id, due on the reconcile sweep:
 * a status or echo carrying the handle or provider id completes it; after the window the tenant's
 * `unknownOutcome` policy decides (`reconcile.ts`).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { messageIdFor, recordOutboundSent } from '../conversations/index.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { defineFailpoint } from '../kernel/failpoints.js';
import { claimLease, releaseLease } from '../kernel/lease.js';
import { reconcileDueAt, runOutboundEffect } from '../kernel/outbound-effect.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import type { TokenBucket } from '../kernel/token-bucket.js';
import type { ReplyChannel, ReplyChannelName, ReplySend, ReplySendResult } from './channel.js';
import { type ReplyItem, replyKeys, toReplyItem } from './items.js';

export const FP_SEND_AFTER_CLAIM = defineFailpoint(
  'reply.send.after-claim',
  'reply claimed (sending, lease, attempt counted), the provider not yet called',
);
export const FP_SEND_AFTER_ACCEPTED = defineFailpoint(
  'reply.send.after-provider-accepted',
  'the provider accepted the reply, its provider id not yet stored',
);
export const FP_SEND_AFTER_STORED = defineFailpoint(
  'reply.send.after-id-stored',
  'provider id stored (sent, echo item claimed), the queue message not yet acknowledged',
);
export const FP_SEND_AFTER_REJECTED = defineFailpoint(
  'reply.send.after-provider-rejected',
  'the provider refused the reply, the reply not yet failed or requeued',
);

/** How each channel's sends share a rate: the bucket key and its rate (per second). */
export interface ReplyRate {
  readonly bucket: string;
  readonly perSecond: number;
}

export interface ReplySenderDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly clock: Clock;
  /** The inbound table (replies are conversation messages). */
  readonly table: string;
  readonly channels: Readonly<Partial<Record<ReplyChannelName, ReplyChannel>>>;
  readonly tokens: TokenBucket;
  readonly rateOf: (reply: ReplyItem) => Promise<ReplyRate>;
  /** Lease owner: unique per delivery. */
  readonly owner: string;
  readonly leaseSeconds: number;
  readonly reconcileWindowSeconds: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly inlineRetries?: number;
}

/** Thrown to make the queue redeliver this doorbell later (nothing was sent). */
export class ReplyRetryError extends Error {
  override name = 'ReplyRetryError';
}

export type ReplyOutcome = 'sent' | 'failed' | 'skipped' | 'unknown';

/** The message key a channel's echo of a sent message is filed under (`webhooks` `messageKeys`). */
export type EchoKeyOf = (
  channel: ReplyChannelName,
  providerMessageId: string,
) => string | undefined;

export function sendOf(reply: ReplyItem): ReplySend {
  return {
    tenantId: reply.tenantId,
    messageId: reply.messageId,
    channel: reply.channel,
    to: reply.to,
    from: reply.from,
    body: reply.body,
    ...(reply.subject !== undefined ? { subject: reply.subject } : {}),
    ...(reply.replyTo !== undefined ? { replyTo: reply.replyTo } : {}),
    ...(reply.sendingSince !== undefined ? { sendingSince: reply.sendingSince } : {}),
    ...(reply.template ? { template: reply.template } : {}),
  };
}

/**
 * The reply `sent` with its provider id, the echo's message item claimed in the same transaction
 * (`recordOutboundSent`), off the sweep: after the provider's answer, or the reconcile's evidence.
 */
export async function recordReplySent(
  deps: Pick<ReplySenderDeps, 'ddb' | 'clock' | 'table'> & { readonly echoKeyOf: EchoKeyOf },
  reply: Pick<ReplyItem, 'tenantId' | 'messageId' | 'conversationId' | 'channel'>,
  providerMessageId: string,
): Promise<void> {
  const echoKey = deps.echoKeyOf(reply.channel, providerMessageId);
  await recordOutboundSent(deps, {
    tenantId: reply.tenantId,
    messageId: reply.messageId,
    conversationId: reply.conversationId,
    providerMessageId,
    ...(echoKey ? { echoMessageId: messageIdFor(reply.tenantId, echoKey) } : {}),
    remove: ['sweepPk', 'sweepAt'],
  });
}

export async function sendReply(
  deps: ReplySenderDeps & { readonly echoKeyOf: EchoKeyOf },
  doorbell: { readonly tenantId: string; readonly messageId: string },
): Promise<ReplyOutcome> {
  const key = replyKeys.reply(doorbell.messageId);
  const reply = toReplyItem(await readItem(deps.ddb, deps.table, key));
  if (reply?.tenantId !== doorbell.tenantId || reply.status !== 'queued') return 'skipped';
  const channel = deps.channels[reply.channel];
  if (!channel) {
    await finish(deps, reply, 'failed', `channel ${reply.channel} is not available`, false);
    return 'failed';
  }
  const rate = await deps.rateOf(reply);
  if (!(await deps.tokens.take(rate.bucket, rate.perSecond))) {
    throw new ReplyRetryError('no send token within the wait limit');
  }
  const send = sendOf(reply);

  const run = await runOutboundEffect<ReplySendResult>({
    claim: async () => {
      const now = deps.clock.now();
      const sendingSince = new Date(now).toISOString();
      const dueAt = reconcileDueAt(now, deps);
      const claim = await retryOnConflict(() =>
        claimLease(deps.ddb, {
          table: deps.table,
          key,
          owner: deps.owner,
          leaseSeconds: deps.leaseSeconds,
          clock: deps.clock,
          increment: 'attempts',
          set: { status: 'sending', sendingSince, sweepAt: dueAt, updatedAt: sendingSince },
          also: {
            expression: '#st = :queued AND #att = :att',
            names: { '#st': 'status', '#att': 'attempts' },
            values: { ':queued': 'queued', ':att': reply.attempts },
          },
        }),
      );
      return claim.claimed;
    },
    send: () => channel.send(send),
    retryInline: (refused) => refused.retry,
    beforeRetry: () => {
      countMetric('ReplySendThrottled');
      return deps.tokens.take(rate.bucket, rate.perSecond);
    },
    record: async (accepted) => {
      await recordReplySent(deps, reply, accepted.providerMessageId);
    },
    failpoints: {
      afterClaim: FP_SEND_AFTER_CLAIM,
      afterAccepted: FP_SEND_AFTER_ACCEPTED,
      afterStored: FP_SEND_AFTER_STORED,
      afterRejected: FP_SEND_AFTER_REJECTED,
    },
    ...(deps.inlineRetries !== undefined ? { inlineRetries: deps.inlineRetries } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
  if (run.kind === 'not_claimed') return 'skipped';
  if (run.kind === 'accepted') {
    countMetric('ReplySent');
    return 'sent';
  }
  if (run.kind === 'unknown') {
    countMetric('ReplySendOutcomeUnknown');
    logger.warn('reply send outcome unknown; waiting for evidence', {
      messageId: reply.messageId,
      channel: reply.channel,
      reason: run.result.reason,
    });
    return 'unknown';
  }
  const refused = run.result;
  const lastError = `${refused.code ?? `HTTP ${refused.httpStatus}`}: ${refused.message}`;
  if (!refused.retry) {
    await finish(deps, reply, 'failed', lastError, true);
    countMetric('ReplyFailed');
    return 'failed';
  }
  await finish(deps, reply, 'queued', lastError, true);
  throw new ReplyRetryError(`provider refused (${lastError}); the queue retries it`);
}

/**
 * Ends this delivery's claim (only while it still holds the lease and no provider id arrived) as
 * `failed`, or back to `queued` for the queue's retry; an unclaimed reply (no channel) fails alone.
 */
async function finish(
  deps: ReplySenderDeps,
  reply: ReplyItem,
  to: 'failed' | 'queued',
  lastError: string,
  claimed: boolean,
): Promise<void> {
  const set = { status: to, lastError: lastError.slice(0, 300), updatedAt: isoTime(deps.clock) };
  if (claimed) {
    await retryOnConflict(() =>
      releaseLease(deps.ddb, {
        table: deps.table,
        key: replyKeys.reply(reply.messageId),
        owner: deps.owner,
        set,
        ...(to === 'failed' ? { remove: ['sweepPk', 'sweepAt'] } : {}),
        also: {
          expression: '#st = :sending AND attribute_not_exists(providerMessageId)',
          names: { '#st': 'status' },
          values: { ':sending': 'sending' },
        },
      }),
    );
    return;
  }
  await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: replyKeys.reply(reply.messageId),
    set,
    remove: ['sweepPk', 'sweepAt'],
    conditions: [
      { expression: '#st = :queued', names: { '#st': 'status' }, values: { ':queued': 'queued' } },
    ],
  });
}
