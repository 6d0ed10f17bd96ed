/**
 * The ledger's metrics, through the kernel's Powertools Metrics:
 * - `ConversionsLogged` (dimensions `source`, `type`): one per conversion created, by the source
 *   that noticed first (`event`, `pre_call_validation`, `cleanup`, `reconciliation`).
 * - `ConversionsReconciled` (dimension `type`): conversions only the reconciliation logged, i.e.
 *   every other path missed them for a whole window. Should stay 0.
 * - `DuplicateEvidenceSuppressed`: an event posted again (same user, type and eventId, or the same
 *   derived id) that stored nothing new.
 */
import { MetricUnit, metrics } from '../kernel/telemetry.js';
import type { ConversionSource } from './model.js';

function emit(name: string, dimensions: Record<string, string>): void {
  const single = metrics.singleMetric();
  for (const [key, value] of Object.entries(dimensions)) single.addDimension(key, value);
  single.addMetric(name, MetricUnit.Count, 1);
}

export function conversionLogged(source: ConversionSource, type: string): void {
  emit('ConversionsLogged', { source, type });
  if (source === 'reconciliation') emit('ConversionsReconciled', { type });
}

export function duplicateEvidenceSuppressed(): void {
  emit('DuplicateEvidenceSuppressed', {});
}
