/**
 * The ledger's metrics, through the kernel's `countMetric` (which adds `service` and `source`: the
 * route or schedule that noticed, e.g. `http:POST /v1/users/{userId}/events` for an event,
 * `schedule:sweepWorkQueues` for cleanup, `schedule:reconcileConversions` for reconciliation):
 * - `ConversionsLogged` (and the event `type`): one per conversion created.
 * - `ConversionsReconciled` (and `type`): conversions only the reconciliation logged, i.e. every
 *   other path missed them for a whole window. Should stay 0.
 * - `DuplicateEvidenceSuppressed`: an event posted again (same user, type and eventId, or the same
 *   derived id) that stored nothing new.
 */
import { countMetric } from '../kernel/telemetry.js';
import type { ConversionMetricDimensions } from './metric-dimensions.js';
import type { ConversionSource } from './model.js';

function countConversion(name: string, dimensions: ConversionMetricDimensions): void {
  countMetric(name, 1, undefined, dimensions);
}

export function conversionLogged(source: ConversionSource, type: string): void {
  countConversion('ConversionsLogged', { type });
  if (source === 'reconciliation') countConversion('ConversionsReconciled', { type });
}

export function duplicateEvidenceSuppressed(): void {
  countMetric('DuplicateEvidenceSuppressed');
}
