/**
 * Sending one recipient, from its queue message:
 *
 *   re-read → skip unless pending → rate-limit token (booked with those of the records running
 *   beside it in its batch) → claim (pending → sending, lease, attempt: one conditional write) → call the
 *   provider with `biz_opaque_callback_data` = the recipient →
 *   store the wamid (sending → sent, one conditional write) as the very next write. Neither writes
 *   a counter: the fold counts both from the change feed.
 *
 * The queue message is only a doorbell: whatever it says, the recipient item decides. A claimed
 * recipient whose call ended with an unknown outcome stays `sending` without a wamid: it is never
 * re-sent at once; a status webhook echoing its callback data completes it, or the recovery
 * schedule releases it once the reconciliation window passes with no evidence.
 */

import { type Clock, isoTime } from '../kernel/clock.js';
import { reconcileDueAt, runOutboundEffect } from '../kernel/outbound-effect.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import type { TokenBucket } from '../kernel/token-bucket.js';
import type { AcceptedWamid, CampaignStore, ClaimEnd } from './campaign-store.js';
import {
  FP_SEND_AFTER_ACCEPTED,
  FP_SEND_AFTER_CLAIM,
  FP_SEND_AFTER_REJECTED,
  FP_SEND_AFTER_STORED,
} from './failpoints.js';
import type { CampaignItem, RecipientItem, RecipientRef } from './items.js';
import { encodeCallbackData, isSendGroupOf, type SendMessageBody } from './model.js';
import type { RejectionClass, SendResult, WhatsAppSender } from './whatsapp-client.js';

export interface SenderDeps {
  readonly store: CampaignStore;
  readonly clock: Clock;
  readonly whatsapp: WhatsAppSender;
  readonly tokens: TokenBucket;
  /** The campaign (may be cached for a second or two: pausing is prompt, not instant). */
  readonly campaign: (tenantId: string, campaignId: string) => Promise<CampaignItem | undefined>;
  readonly messagesPerSecond: (tenantId: string) => Promise<number>;
  /** Lease owner: unique per delivery. */
  readonly owner: string;
  readonly leaseSeconds: number;
  readonly reconcileWindowSeconds: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Throughput/5xx retries made inside one delivery before handing back to the queue. @default 2 */
  readonly inlineRetries?: number;
}

/** Thrown to make the queue redeliver this message later, in its place in its group. */
export class SendRetryError extends Error {
  override name = 'SendRetryError';
}

export type SendOutcome = 'sent' | 'failed' | 'skipped' | 'paused' | 'later' | 'unknown';

/** How long a pair-rate-limited contact waits before the recovery schedule rings it again. */
export const PAIR_RATE_RETRY_MS = 60_000;

/**
 * What a refusal (nothing was sent) means for the recipient: sent again at once while holding the
 * claim, then by the queue (`retry`: the number was too fast, or the provider failed); rung again
 * after `PAIR_RATE_RETRY_MS` (`later`: this one user got too many); or `failed` (sending again
 * cannot work).
 */
export function afterRefusal(rejection: RejectionClass): 'retry' | 'later' | 'failed' {
  if (rejection === 'permanent') return 'failed';
  if (rejection === 'pair_rate' || rejection === 'version_rejected') return 'later';
  return 'retry';
}

/**
 * A send Graph refused for its version waits this long (held, not spun): the operator fixes
 * `WHATSAPP_API_VERSION` (ProviderVersionRejected alarms).
 */
export const VERSION_REJECTED_RETRY_MS = 15 * 60_000;
/**
 * Released recipients whose message is still in the queue (it comes back after its visibility
 * timeout): recovery looks again after this, in case it is lost meanwhile (e.g. parked in the DLQ).
 */
const RELEASED_HORIZON_MS = 2 * 60_000;

/** The recipient as it stands (a strongly consistent read), or undefined. */
export function readRecipient(
  store: CampaignStore,
  ref: RecipientRef,
): Promise<RecipientItem | undefined> {
  return store.recipients.get(ref);
}

/**
 * The rest of a delivery's batch, as its consumer counts it (`QueueMessage.batch`): the records
 * running beside this one that may still need a send token, and how this one stops counting.
 */
export interface SendBatch {
  ahead(peer?: (messageGroupId: string) => boolean): number;
  pass(): void;
}

export async function sendToRecipient(
  deps: SenderDeps,
  message: SendMessageBody,
  batch?: SendBatch,
): Promise<SendOutcome> {
  const { tenantId, campaignId, phone } = message;
  const ref: RecipientRef = { tenantId, campaignId, phone };
  const recipient = await readRecipient(deps.store, ref);
  if (recipient?.status !== 'pending') return 'skipped';
  if (recipient.retryAt && recipient.retryAt > isoTime(deps.clock)) return 'later';
  const campaign = await deps.campaign(tenantId, campaignId);
  if (campaign?.status !== 'running') return 'paused';

  const rate = await deps.messagesPerSecond(tenantId);
  const tokenBucket = `wa:${campaign.phoneNumberId}`;
  // Booked only now that this record needs a token, with those of the records of its campaign (so of
  // its number) running beside it in its batch that may need one (one write for several); then this
  // one no longer counts among them. Records of other campaigns book their own number's tokens.
  const sameCampaign = (group: string) => isSendGroupOf(campaignId, group);
  const token = await deps.tokens.take(tokenBucket, rate, {
    ahead: batch?.ahead(sameCampaign) ?? 0,
  });
  batch?.pass();
  if (!token) throw new SendRetryError('no send token within the wait limit');

  const run = await runOutboundEffect<SendResult>({
    // Claim: pending → sending under this delivery's lease, one more attempt, in one conditional
    // write; lost when another delivery claimed (or released) it since our read.
    claim: () => {
      const now = deps.clock.now();
      return deps.store.recipients.claim(ref, {
        owner: deps.owner,
        leaseSeconds: deps.leaseSeconds,
        now,
        attemptsSeen: recipient.attempts,
        dueAt: reconcileDueAt(now, deps),
      });
    },
    send: () =>
      deps.whatsapp.sendTemplate({
        phoneNumberId: campaign.phoneNumberId,
        to: phone,
        template: campaign.template,
        callbackData: encodeCallbackData(campaignId, phone),
      }),
    retryInline: (refused) => afterRefusal(refused.class) === 'retry',
    beforeRetry: () => {
      countMetric('CampaignSendThrottled');
      return deps.tokens.take(tokenBucket, rate);
    },
    record: (accepted) =>
      storeWamid(deps, message, { phoneNumberId: campaign.phoneNumberId, wamid: accepted.wamid }),
    failpoints: {
      afterClaim: FP_SEND_AFTER_CLAIM,
      afterAccepted: FP_SEND_AFTER_ACCEPTED,
      afterStored: FP_SEND_AFTER_STORED,
      afterRejected: FP_SEND_AFTER_REJECTED,
    },
    inlineRetries: deps.inlineRetries ?? 2,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
  if (run.kind === 'not_claimed') return 'skipped';
  if (run.kind === 'accepted') {
    countMetric('CampaignMessageSent');
    return 'sent';
  }
  if (run.kind === 'unknown') {
    // Maybe sent. Not retried now: the status webhook (which echoes the callback data) or the
    // recovery schedule after the reconciliation window decides.
    countMetric('CampaignSendOutcomeUnknown');
    logger.warn('send outcome unknown; waiting for evidence', {
      campaignId,
      reason: run.result.reason,
    });
    return 'unknown';
  }

  const result = run.result;
  const lastError = `${result.code ?? `HTTP ${result.httpStatus}`}: ${result.message}`;
  const next = afterRefusal(result.class);
  if (next === 'failed') {
    await finishClaim(deps, ref, { to: 'failed', lastError, at: isoTime(deps.clock) });
    countMetric('CampaignMessageFailed');
    return 'failed';
  }
  if (next === 'later') {
    const versionRejected = result.class === 'version_rejected';
    if (versionRejected) {
      countMetric('ProviderVersionRejected');
      logger.error('whatsapp graph api version refused; send held', { code: result.code });
    }
    const wait = versionRejected ? VERSION_REJECTED_RETRY_MS : PAIR_RATE_RETRY_MS;
    const retryAt = new Date(deps.clock.now() + wait).toISOString();
    await finishClaim(deps, ref, {
      to: 'pending',
      lastError,
      retryAt,
      dueAt: retryAt,
      at: isoTime(deps.clock),
    });
    return 'later';
  }
  await finishClaim(deps, ref, {
    to: 'pending',
    lastError,
    dueAt: new Date(deps.clock.now() + RELEASED_HORIZON_MS).toISOString(),
    at: isoTime(deps.clock),
  });
  throw new SendRetryError(`provider refused (${lastError}); the queue retries it`);
}

type WamidDeps = Pick<SenderDeps, 'store' | 'clock' | 'sleep'>;

/** Attempts at keeping a wamid when even the plain keeping write fails (throttling, errors). */
const WAMID_KEEP_ATTEMPTS = 6;

/**
 * sending → sent with the wamid: the first write after the provider's answer. A status webhook
 * may have got there first with the same wamid; that is the same fact, not a conflict.
 *
 * A wamid the provider gave us is never dropped: the move is one conditional write of the recipient
 * (no counter, no transaction, so it meets no other contact's write), but it can still fail
 * (throttled past the SDK's retries, an error). Then the wamid is kept by a second, retried write
 * that leaves the status alone — the recipient still `sending`, the wamid now on it, due at once —
 * and recovery finishes the move (`sending` with a wamid → `sent`), as does any status webhook of
 * that message.
 */
export async function storeWamid(
  deps: WamidDeps,
  message: SendMessageBody,
  accepted: Omit<AcceptedWamid, 'at'>,
): Promise<void> {
  const ref: RecipientRef = message;
  let stored: boolean;
  try {
    stored = await deps.store.recipients.storeWamid(ref, { ...accepted, at: isoTime(deps.clock) });
  } catch (error) {
    if ((error as Error).name === 'FailpointCrashError') throw error;
    countMetric('CampaignWamidKeptAlone');
    logger.warn('wamid store failed; keeping the wamid on the recipient, still sending', {
      campaignId: message.campaignId,
      error,
    });
    await keepWamid(deps, message, accepted);
    return;
  }
  if (stored) return;
  const current = await readRecipient(deps.store, ref);
  if (current?.providerMessageId !== accepted.wamid) {
    countMetric('CampaignWamidConflict');
    logger.error('recipient holds another wamid than the one just accepted', {
      campaignId: message.campaignId,
      status: current?.status,
    });
  }
}

/** The wamid on the recipient, its status left alone; recovery completes the move. */
async function keepWamid(
  deps: WamidDeps,
  message: SendMessageBody,
  accepted: Omit<AcceptedWamid, 'at'>,
): Promise<void> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.store.recipients.keepWamid(message, { ...accepted, at: isoTime(deps.clock) });
      return;
    } catch (error) {
      if (attempt >= WAMID_KEEP_ATTEMPTS) {
        countMetric('CampaignWamidLost');
        logger.error('could not store an accepted wamid; status webhooks still carry it', {
          campaignId: message.campaignId,
          error,
        });
        throw error;
      }
      await sleep(Math.random() * 50 * 2 ** attempt);
    }
  }
}

/**
 * Ends this delivery's claim as `failed` or back to `pending`: only while we still hold the lease
 * and the recipient is still `sending` without a wamid, in one conditional write.
 */
function finishClaim(deps: SenderDeps, ref: RecipientRef, end: ClaimEnd): Promise<boolean> {
  return deps.store.recipients.endClaim(ref, deps.owner, end);
}
