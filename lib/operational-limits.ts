/**
 * The stack's operational limits and alarm settings, read from CDK context values so an operator
 * sizes a deployment with `cdk deploy -c onceflow:httpRateLimit=20000` (or `cdk.json`) instead of
 * editing code. Defaults are sized for 10,000 webhooks/s; `docs/deploy.md` shows the arithmetic.
 */
import type { Node } from 'constructs';
import type { QueueName } from './manifest.js';

export interface OperationalLimits {
  /** HTTP API `$default` stage: steady requests/s for every route. */
  readonly httpRateLimit: number;
  /** HTTP API `$default` stage: burst (token-bucket size). */
  readonly httpBurstLimit: number;
  /** Reserved concurrency per manifest function; unnamed functions share the account pool. */
  readonly reservedConcurrency: Readonly<Record<string, number>>;
  /** SQS event source maximum concurrency per queue (2–1000); unnamed queues have no cap. */
  readonly queueMaxConcurrency: Readonly<Partial<Record<QueueName, number>>>;
  /** Address subscribed to the alarm topic (it must confirm the subscription). */
  readonly alarmEmail?: string;
  /** HTTP 5xx alarm: percent of requests over 5 minutes. */
  readonly http5xxPercent: number;
  /** Oldest message older than this (seconds) in a work queue is stale work. */
  readonly staleQueueSeconds: number;
}

/**
 * 10,000 webhooks/s at the edge with 2x burst; the senders capped so a campaign cannot starve the
 * webhook receivers of the account's concurrency; the queues' consumers capped at what their
 * downstream (WhatsApp's per-number throughput, the AI endpoint) can take.
 */
export const DEFAULT_LIMITS: OperationalLimits = {
  httpRateLimit: 10_000,
  httpBurstLimit: 20_000,
  reservedConcurrency: {},
  queueMaxConcurrency: { sends: 100, jobs: 200, fanout: 10 },
  http5xxPercent: 1,
  staleQueueSeconds: 900,
};

export const CONTEXT_KEYS = {
  httpRateLimit: 'onceflow:httpRateLimit',
  httpBurstLimit: 'onceflow:httpBurstLimit',
  reservedConcurrency: 'onceflow:reservedConcurrency',
  queueMaxConcurrency: 'onceflow:queueMaxConcurrency',
  alarmEmail: 'onceflow:alarmEmail',
  http5xxPercent: 'onceflow:http5xxPercent',
  staleQueueSeconds: 'onceflow:staleQueueSeconds',
} as const;

/** Reads the limits from context (strings from `-c` are parsed), falling back to the defaults. */
export function limitsFromContext(node: Node): OperationalLimits {
  const read = (key: string): unknown => {
    const value = node.tryGetContext(key);
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  };
  const email = read(CONTEXT_KEYS.alarmEmail);
  return {
    httpRateLimit: positive(
      CONTEXT_KEYS.httpRateLimit,
      read(CONTEXT_KEYS.httpRateLimit),
      DEFAULT_LIMITS.httpRateLimit,
    ),
    httpBurstLimit: positive(
      CONTEXT_KEYS.httpBurstLimit,
      read(CONTEXT_KEYS.httpBurstLimit),
      DEFAULT_LIMITS.httpBurstLimit,
    ),
    reservedConcurrency: counts(
      CONTEXT_KEYS.reservedConcurrency,
      read(CONTEXT_KEYS.reservedConcurrency),
      DEFAULT_LIMITS.reservedConcurrency,
    ),
    queueMaxConcurrency: counts(
      CONTEXT_KEYS.queueMaxConcurrency,
      read(CONTEXT_KEYS.queueMaxConcurrency),
      DEFAULT_LIMITS.queueMaxConcurrency,
    ),
    ...(typeof email === 'string' && email.length > 0 ? { alarmEmail: email } : {}),
    http5xxPercent: positive(
      CONTEXT_KEYS.http5xxPercent,
      read(CONTEXT_KEYS.http5xxPercent),
      DEFAULT_LIMITS.http5xxPercent,
    ),
    staleQueueSeconds: positive(
      CONTEXT_KEYS.staleQueueSeconds,
      read(CONTEXT_KEYS.staleQueueSeconds),
      DEFAULT_LIMITS.staleQueueSeconds,
    ),
  };
}

function positive(key: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`context ${key} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function counts(
  key: string,
  value: unknown,
  fallback: Readonly<Record<string, number>>,
): Record<string, number> {
  if (value === undefined || value === null) return { ...fallback };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`context ${key} must be an object of name → whole number`);
  }
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries(value)) {
    if (!Number.isInteger(n) || (n as number) < 1) {
      throw new Error(`context ${key}.${name} must be a positive whole number`);
    }
    out[name] = n as number;
  }
  return out;
}
