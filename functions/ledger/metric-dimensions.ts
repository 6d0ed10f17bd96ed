/**
 * The dimension the ledger's conversion metrics (`ConversionsLogged`, `ConversionsReconciled`)
 * carry besides the kernel's `service` and `source`: the conversion's event type. The metrics
 * catalogue builds those metrics' dimension lists from this one, so the alarm's `SCHEMA(...)` and
 * the dashboard's search name exactly the dimension set `ledger-metrics.ts` emits. No imports: the
 * catalogue reads it at synth time.
 */
export const CONVERSION_METRIC_DIMENSIONS = ['type'] as const;

export type ConversionMetricDimensions = Readonly<
  Record<(typeof CONVERSION_METRIC_DIMENSIONS)[number], string>
>;
