/**
 * What recovery does with each piece of work it finds (the sweep itself is `recovery.ts`): pure
 * decisions, no store, no clock of their own.
 *
 * A `sending` recipient:
 * - with a wamid (kept by the sender when its counted move lost every race): moved to `sent`;
 * - with no wamid, lease expired, reconciliation window passed with no status webhook: the tenant's
 *   `unknownOutcome` policy decides. `hold` (default): the contact ends `unknown`, counted and
 *   listed, sent again only when an operator asks. `retry_once`: released for one more attempt,
 *   recorded (`unknownRetries`, `lastError`); a second unknown outcome is held;
 * - otherwise (its lease or its window still running): left for a later run.
 *
 * A due `pending` recipient is rung again unless it waits for a pair-rate retry (`retryAt`).
 */
import type { RecipientItem } from './items.js';
import type { UnknownOutcomePolicy } from './model.js';

/** Under `retry_once`, unknown outcomes retried at most this many times; then the contact is held. */
export const MAX_UNKNOWN_RETRIES = 1;

export type SendingVerdict =
  | { readonly action: 'complete' }
  | { readonly action: 'wait' }
  | { readonly action: 'hold'; readonly lastError: string }
  | { readonly action: 'release'; readonly lastError: string; readonly unknownRetries: number };

/** The verdict on a due `sending` recipient at `now` (epoch ms). */
export function sendingVerdict(
  item: RecipientItem,
  policy: UnknownOutcomePolicy,
  now: number,
  reconcileWindowSeconds: number,
): SendingVerdict {
  if (item.providerMessageId) return { action: 'complete' };
  const windowEnds =
    Date.parse(item.sendingSince ?? item.updatedAt) + reconcileWindowSeconds * 1000;
  if ((item.leaseExpiresAt ?? 0) > now || windowEnds > now) return { action: 'wait' };
  const retries = item.unknownRetries ?? 0;
  if (policy === 'retry_once' && retries < MAX_UNKNOWN_RETRIES) {
    return {
      action: 'release',
      lastError: `outcome unknown: no status within ${reconcileWindowSeconds}s; retried once (unknownOutcome: retry_once)`,
      unknownRetries: retries + 1,
    };
  }
  return {
    action: 'hold',
    lastError:
      `outcome unknown: no provider status within ${reconcileWindowSeconds}s of attempt ` +
      `${item.attempts || 1}; held, not sent again unless retried (unknownOutcome: ${policy})`,
  };
}

/** Whether a due `pending` recipient is rung now (not while it waits for a pair-rate retry). */
export function ringsNow(item: RecipientItem, nowIso: string): boolean {
  return !(item.retryAt && item.retryAt > nowIso);
}
