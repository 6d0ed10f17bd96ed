/**
 * Telemetry: the Powertools Logger, Metrics and Tracer (created once per execution environment) and
 * the telemetry context, an AsyncLocalStorage that says on whose behalf the current code runs:
 * `http:<route>`, `queue:<name>`, `schedule:<name>`, `background_job:<type>` or, for what the jobs
 * of one ring share (their claim and settle), `background_job:jobs`.
 *
 * Logs carry `source` through a log formatter that reads the context when the line is written, and
 * metrics take it as a dimension through `countMetric`, so concurrent invocations in one process
 * (the local runtime) never see each other's source. The formatter also masks phone numbers and
 * drops message bodies: nothing personal reaches a log line.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { MetricDimensions } from './metric-dimensions.js';

export interface TelemetryContext {
  /** `http:<route>`, `queue:<name>`, `schedule:<name>`, `background_job:<type>` or `background_job:jobs`. */
  readonly source: string;
  readonly tenantId?: string;
  /**
   * The invocation this work belongs to. Powertools keeps the Lambda context on the shared Logger,
   * which is right on AWS (one invocation per environment at a time) but not in the local runtime,
   * where invocations of many functions overlap in one process; the context travels with the work.
   */
  readonly functionName?: string;
  readonly requestId?: string;
  /** The source the invocation started with (metrics of that source go through `logMetrics`). */
  readonly invocationSource?: string;
}

const storage = new AsyncLocalStorage<TelemetryContext>();

/** Runs `fn` with `context` as the current telemetry context. */
export function withTelemetry<T>(context: TelemetryContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** Runs `fn` with the current context extended (e.g. a queue consumer entering a job type). */
export function withTelemetrySource<T>(source: string, fn: () => T): T {
  return storage.run({ ...storage.getStore(), source }, fn);
}

/** Runs one Lambda invocation's work with its source and identity. */
export function withInvocation<T>(
  source: string,
  context: { readonly functionName?: string; readonly awsRequestId?: string } | undefined,
  fn: () => T,
): T {
  // On AWS one invocation runs at a time per environment: the invocation's metrics share its
  // source as a dimension and the `logMetrics` middleware flushes them once, at the end. Cleared
  // first: setting a default dimension that is already set (the last invocation's source) makes
  // Powertools warn on every warm invocation.
  if (!sharedProcess()) {
    metrics.clearDefaultDimensions();
    metrics.setDefaultDimensions({ service: SERVICE_NAME, source });
  }
  return storage.run(
    {
      source,
      invocationSource: source,
      ...(context?.functionName ? { functionName: context.functionName } : {}),
      ...(context?.awsRequestId ? { requestId: context.awsRequestId } : {}),
    },
    fn,
  );
}

export function currentTelemetry(): TelemetryContext {
  return storage.getStore() ?? { source: 'unknown' };
}

// +972501234567, 972501234567@s.whatsapp.net, 050-123-4567: any run of 7+ digits (with separators)
// standing on its own, so the digits inside an id such as `m_3fa91234567b` stay readable.
const PHONE_LIKE = /(?<![A-Za-z0-9_])(?!\d{4}-\d\d-\d\d)\+?\(?\d[\d\s().-]{5,}\d(?![A-Za-z0-9_])/g;
const SECRET_KEYS =
  /^(body|text|message_body|messageBody|phone|phones|to|from|wa_id|remoteJid|remoteJidAlt|participant|authorization|apiKey|webhookToken|exportToken)$/i;

/** Masks a phone-like run, keeping its last two digits for correlation: `+97250***67` → `***67`. */
export function maskPhones(text: string): string {
  return text.replace(PHONE_LIKE, (match) => `***${match.replace(/\D/g, '').slice(-2)}`);
}

function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[depth]';
  if (typeof value === 'string') return maskPhones(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) {
    return {
      name: value.name,
      message: maskPhones(value.message),
      stack: maskPhones(value.stack ?? ''),
    };
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = SECRET_KEYS.test(key) ? '[redacted]' : redact(inner, depth + 1);
    }
    return out;
  }
  return value;
}

class OnceflowLogFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const context = storage.getStore();
    const base: LogAttributes = {
      level: attributes.logLevel,
      message: maskPhones(attributes.message),
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      source: context?.source,
      tenant: context?.tenantId,
      cold_start: attributes.lambdaContext?.coldStart,
      function_name: context?.functionName ?? attributes.lambdaContext?.functionName,
      function_request_id: context?.requestId ?? attributes.lambdaContext?.awsRequestId,
      xray_trace_id: attributes.xRayTraceId,
    };
    return new LogItem({ attributes: base }).addAttributes(redact(additional) as LogAttributes);
  }
}

export const SERVICE_NAME = 'onceflow';
export const METRICS_NAMESPACE = 'Onceflow';

export const logger = new Logger({
  serviceName: SERVICE_NAME,
  logFormatter: new OnceflowLogFormatter(),
});

/**
 * Metrics' own diagnostics go to our logger, minus the warning `logMetrics` would print after every
 * invocation that recorded no metric (most do not, and the local runtime's overlapping invocations
 * never use the shared batch): noise that would bury real lines.
 */
const metricsDiagnostics = {
  debug: (...args: unknown[]) => logger.debug(String(args[0] ?? '')),
  info: (...args: unknown[]) => logger.info(String(args[0] ?? '')),
  warn: (...args: unknown[]) => {
    const message = String(args[0] ?? '');
    if (message.startsWith('No application metrics to publish')) return;
    logger.warn(message);
  },
  error: (...args: unknown[]) => logger.error(String(args[0] ?? '')),
};

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: SERVICE_NAME,
  logger: metricsDiagnostics,
});

export const tracer = new Tracer({
  serviceName: SERVICE_NAME,
  enabled: process.env.POWERTOOLS_TRACE_ENABLED !== 'false',
});

export { MetricUnit };

/** True where invocations overlap in one process (the local runtime and tests), never on AWS. */
function sharedProcess(): boolean {
  return process.env.ONCEFLOW_LOCAL === '1';
}

type MetricUnitValue = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * Records one metric with the dimensions `service`, `source` (the current telemetry source) and
 * `dimensions` (its own, if any: `SOURCE_DIMENSIONS` in `metric-dimensions.ts`), and no other, on
 * AWS and locally alike. Inside an invocation, under its own source and with no dimensions of its
 * own, the metric joins the invocation's batch, which the `logMetrics` middleware flushes as one
 * EMF blob; otherwise (a narrowed source such as `background_job:<type>`, own dimensions, code
 * outside a handler, the local runtime where invocations overlap) it leaves as one EMF line of its
 * own.
 */
export function countMetric(
  name: string,
  value = 1,
  unit: MetricUnitValue = MetricUnit.Count,
  dimensions: MetricDimensions = {},
): void {
  const telemetry = currentTelemetry();
  const own = Object.keys(dimensions).length > 0;
  if (!sharedProcess() && !own && telemetry.invocationSource === telemetry.source) {
    metrics.addMetric(name, unit, value);
    return;
  }
  // Its own Metrics object, not `metrics.singleMetric()`: that copies the invocation's default
  // `source`, and adding `source` again makes Powertools log two WARN lines per metric.
  new Metrics({
    namespace: METRICS_NAMESPACE,
    serviceName: SERVICE_NAME,
    singleMetric: true,
    defaultDimensions: { source: telemetry.source, ...(dimensions as Record<string, string>) },
    logger: metricsDiagnostics,
  }).addMetric(name, unit, value);
}

/**
 * A sweep skipped entries too malformed to read (`readEach`): counted (`UnreadableSweepEntry`,
 * alarmed: only an operator can mend the item) and logged with the attribute at fault, never its
 * value, and the sweep goes on with the others.
 */
export function reportUnreadable(
  sweep: string,
  unreadable: readonly { readonly message: string }[],
): void {
  if (unreadable.length === 0) return;
  countMetric('UnreadableSweepEntry', unreadable.length);
  for (const error of unreadable) {
    logger.error('an unreadable sweep entry was skipped; the others go on', {
      sweep,
      error: error.message,
    });
  }
}
