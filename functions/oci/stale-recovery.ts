/**
 * Rows left `processing` past their lease (an export the script never acked, an uploader that
 * crashed) return to `retry` with the same orderId. Found through the sparse index, released by a
 * conditional write on the base item (still `processing`, lease still expired).
 */
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric, reportUnreadable } from '../kernel/telemetry.js';
import { OciMetric } from './metrics.js';
import type { OciStore } from './oci-store.js';

export const FP_STALE_AFTER_FIRST = defineFailpoint(
  'oci.stale.after-first-reset',
  'after the stale recovery returned its first row to retry, before the rest',
);

export async function recoverStaleRows(
  deps: { readonly store: OciStore; readonly clock: Clock },
  limit = 5000,
): Promise<{ recovered: number }> {
  const now = deps.clock.now();
  const expired = await deps.store.expiredLeases(new Date(now).toISOString(), limit);
  reportUnreadable('oci.stale', expired.unreadable);
  let recovered = 0;
  for (const ref of expired.read) {
    if (await deps.store.releaseExpired(ref, now)) {
      recovered += 1;
      countMetric(OciMetric.StaleRecovered);
      if (recovered === 1) failpoint(FP_STALE_AFTER_FIRST);
    }
  }
  return { recovered };
}
