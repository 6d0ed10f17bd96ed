/**
 * One outbound effect, sent at most once: the discipline every onceflow sender follows (campaign
 * recipients, replies). Written once here so a second pipeline cannot drift from the first:
 *
 *   claim (a lease, one more attempt, status → sending, in one conditional write)
 *   → call the provider carrying the effect's own id as its correlation handle
 *   → accepted: the provider's id is the very next write (nothing between the answer and it)
 *   → refused (nothing was sent): retried while holding the claim, else handed back to the caller
 *   → unknown (maybe sent, the answer lost): never re-sent here; the effect stays claimed without a
 *     provider id until evidence arrives (a status or echo carrying the handle, or the provider's own
 *     record read back), and after the reconcile window the tenant's `unknownOutcome` policy decides
 *     ({@link settleUnknownOutcome}).
 *
 * The failpoints sit between each pair of durable effects, named by the caller (its crash matrix
 * arms each once): after the claim, after the provider accepted (id not yet stored), after the id is
 * stored, after a refusal (claim not yet released). The Promela model of this protocol is
 * `models/campaign-sender.pml`; replies run the same steps, and add one writer the campaign does
 * not have: the provider's echo of the sent message, filed by the inbound path (`docs/replies.md`).
 */
import { failpoint } from './failpoints.js';

/** What one provider call can end in; each pipeline's result type narrows to these three kinds. */
export type OutboundCallResult =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'rejected' }
  | { readonly kind: 'unknown' };

export interface OutboundEffectFailpoints {
  readonly afterClaim: string;
  readonly afterAccepted: string;
  readonly afterStored: string;
  readonly afterRejected: string;
}

export interface OutboundEffect<R extends OutboundCallResult> {
  /** The claim write: false when the effect is not ours to send (moved on, or leased by another). */
  claim(): Promise<boolean>;
  /** One provider call carrying the correlation handle. Must not throw for a provider's answer. */
  send(): Promise<R>;
  /** A refusal worth another call while still holding the claim (throughput, 5xx before sending). */
  retryInline(result: Extract<R, { kind: 'rejected' }>): boolean;
  /** Before an inline retry (e.g. take another rate token); false stops retrying. */
  beforeRetry?(attempt: number): Promise<boolean>;
  /** The very next write after an acceptance: the provider id on the effect. */
  record(result: Extract<R, { kind: 'accepted' }>): Promise<void>;
  readonly failpoints: OutboundEffectFailpoints;
  /** Calls after the first, while holding the claim. @default 2 */
  readonly inlineRetries?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type OutboundEffectRun<R extends OutboundCallResult> =
  | { readonly kind: 'not_claimed' }
  | { readonly kind: 'accepted'; readonly result: Extract<R, { kind: 'accepted' }> }
  | { readonly kind: 'unknown'; readonly result: Extract<R, { kind: 'unknown' }> }
  /** Refused: the caller releases or fails its claim (the after-rejected failpoint has passed). */
  | { readonly kind: 'rejected'; readonly result: Extract<R, { kind: 'rejected' }> };

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function isKind<R extends OutboundCallResult, K extends R['kind']>(
  result: R,
  kind: K,
): result is Extract<R, { kind: K }> {
  return result.kind === kind;
}

export async function runOutboundEffect<R extends OutboundCallResult>(
  effect: OutboundEffect<R>,
): Promise<OutboundEffectRun<R>> {
  if (!(await effect.claim())) return { kind: 'not_claimed' };
  failpoint(effect.failpoints.afterClaim);

  const inlineRetries = effect.inlineRetries ?? 2;
  const sleep = effect.sleep ?? defaultSleep;
  let result: R;
  for (let attempt = 0; ; attempt++) {
    result = await effect.send();
    if (!isKind(result, 'rejected') || !effect.retryInline(result) || attempt >= inlineRetries) {
      break;
    }
    // Refused, so nothing was sent: back off (250 ms, 500 ms, ... plus jitter) and call again
    // while still holding the claim, so no other delivery can send it meanwhile.
    await sleep(250 * 2 ** attempt + Math.random() * 100);
    if (effect.beforeRetry && !(await effect.beforeRetry(attempt + 1))) break;
  }

  if (isKind(result, 'accepted')) {
    failpoint(effect.failpoints.afterAccepted);
    await effect.record(result);
    failpoint(effect.failpoints.afterStored);
    return { kind: 'accepted', result };
  }
  if (isKind(result, 'unknown')) return { kind: 'unknown', result };
  failpoint(effect.failpoints.afterRejected);
  return { kind: 'rejected', result: result as Extract<R, { kind: 'rejected' }> };
}

/**
 * When a claim made at `now` is due on its pipeline's reconcile sweep: once both its lease and the
 * reconcile window are over (before that, the claimant may still be sending, or evidence may come).
 */
export function reconcileDueAt(
  now: number,
  options: { readonly leaseSeconds: number; readonly reconcileWindowSeconds: number },
): string {
  return new Date(
    now + Math.max(options.reconcileWindowSeconds, options.leaseSeconds) * 1000,
  ).toISOString();
}

export type UnknownOutcomePolicy = 'hold' | 'retry_once';

/** What a read of the provider's own record of the send says, where the provider has one. */
export type SendEvidence =
  | { readonly kind: 'found'; readonly providerMessageId: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unavailable' };

export interface ClaimedEffect {
  /** Set once the provider id is known (answer, status, echo or provider read). */
  readonly providerMessageId?: string | undefined;
  /** When the current claim began (ms). */
  readonly sendingSince: number;
  /** The current claim's lease end (ms); a live lease means a delivery may still be sending. */
  readonly leaseExpiresAt?: number | undefined;
  /** Unknown outcomes already retried under `retry_once`. */
  readonly unknownRetries?: number | undefined;
}

export interface SettleOptions {
  readonly now: number;
  readonly reconcileWindowSeconds: number;
  readonly policy: UnknownOutcomePolicy;
  readonly evidence?: SendEvidence;
  /** @default 1 */
  readonly maxUnknownRetries?: number;
}

export type Settlement =
  /** The provider id is known: record the send as sent. */
  | { readonly kind: 'record'; readonly providerMessageId: string }
  /** Lease still live or the window not over: evidence may yet come. */
  | { readonly kind: 'wait' }
  /** The provider's own record shows nothing was sent: safe to send again, not an unknown retry. */
  | { readonly kind: 'release' }
  /** `retry_once`: one more attempt, recorded (the documented case of two messages). */
  | { readonly kind: 'retry' }
  /** `hold` (or retries used up): the effect ends `unknown` until an operator retries it. */
  | { readonly kind: 'hold' };

/**
 * A claimed effect with no provider id, looked at by a reconcile schedule. Evidence always wins
 * over the clock: an id (stored, or found in the provider's record) is recorded at once; a
 * provider record that is authoritatively absent releases the effect without spending the tenant's
 * one `retry_once`. With no evidence, nothing happens before both the lease and the reconcile
 * window (default 600 s: ten times WhatsApp's usual status latency) have passed; then the policy.
 */
export function settleUnknownOutcome(effect: ClaimedEffect, options: SettleOptions): Settlement {
  if (effect.providerMessageId) {
    return { kind: 'record', providerMessageId: effect.providerMessageId };
  }
  if (options.evidence?.kind === 'found') {
    return { kind: 'record', providerMessageId: options.evidence.providerMessageId };
  }
  const leaseLive = (effect.leaseExpiresAt ?? 0) > options.now;
  const windowEnds = effect.sendingSince + options.reconcileWindowSeconds * 1000;
  if (leaseLive || windowEnds > options.now) return { kind: 'wait' };
  if (options.evidence?.kind === 'absent') return { kind: 'release' };
  const retries = effect.unknownRetries ?? 0;
  if (options.policy === 'retry_once' && retries < (options.maxUnknownRetries ?? 1)) {
    return { kind: 'retry' };
  }
  return { kind: 'hold' };
}
