/**
 * The dimensions every onceflow metric carries: `service` (Powertools adds it) and `source`, the
 * telemetry context's `http:<route>`, `queue:<name>`, `schedule:<name>` or `background_job:<type>`
 * (a ring's shared claim and settle run as `background_job:jobs`, which emits no metric),
 * added in one place (`countMetric` and `withInvocation` in `telemetry.ts`). A metric may add its
 * own dimensions after these (`countMetric`'s `dimensions`); the metrics catalogue
 * (`lib/metrics-catalogue.ts`) builds each metric's dimension list from this one, so the alarms' and
 * the dashboard's queries name exactly the dimension set the code emits. No imports: the catalogue
 * reads it at synth time.
 */
export const SOURCE_DIMENSIONS = ['service', 'source'] as const;

/** A metric's own dimensions (never `service` or `source`, which the kernel sets). */
export type MetricDimensions = Readonly<Record<string, string>> & {
  readonly service?: never;
  readonly source?: never;
};
