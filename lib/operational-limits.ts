/**
 * The stack's operational limits and alarm settings, read from CDK context values so an operator
 * sizes a deployment with `cdk deploy -c onceflow:httpRateLimit=20000` (or `cdk.json`) instead of
 * editing code. Defaults are sized for 10,000 webhooks/s; `docs/deploy.md` shows the arithmetic.
 */
import type { Node } from 'constructs';
import type { QueueName } from './manifest.js';

/**
 * AWS's ranges, checked at synth so a value AWS would refuse fails `cdk synth` with its name instead
 * of a deploy that rolls back:
 * - an SQS event source's maximum concurrency is 2-1000
 *   (https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html);
 * - reserved concurrency is a whole number >= 0, and the account keeps at least 100 unreserved, so
 *   all reservations together may be at most the account's limit minus 100
 *   (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
 */
export const MAX_CONCURRENCY_RANGE = { min: 2, max: 1000 } as const;
export const UNRESERVED_CONCURRENCY_MINIMUM = 100;

export interface OperationalLimits {
  /** HTTP API `$default` stage: steady requests/s for every route. */
  readonly httpRateLimit: number;
  /** HTTP API `$default` stage: burst (token-bucket size). */
  readonly httpBurstLimit: number;
  /** Reserved concurrency per manifest function; unnamed functions share the account pool. */
  readonly reservedConcurrency: Readonly<Record<string, number>>;
  /**
   * The account's Lambda concurrency limit in the region (Service Quotas `L-B99A9384`): all
   * reservations together must leave 100 of it unreserved.
   */
  readonly accountConcurrency: number;
  /** SQS event source maximum concurrency per queue (2–1000); unnamed queues have no cap. */
  readonly queueMaxConcurrency: Readonly<Partial<Record<QueueName, number>>>;
  /**
   * DynamoDB deletion protection on every table: a delete (by hand, or by a stack update that
   * would replace a table) fails until it is turned off. Off only for throwaway test stacks.
   */
  readonly deletionProtection: boolean;
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
  // The default quota; new accounts may start far lower (docs/deploy.md shows how to check).
  accountConcurrency: 1000,
  // eventDeliveries: 200 invocations x 10 records of different groups in parallel at ~0.2 s a POST
  // is ~10,000 deliveries/s, the deployment's event rate at one endpoint each.
  queueMaxConcurrency: { sends: 100, jobs: 200, fanout: 10, replies: 50, eventDeliveries: 200 },
  deletionProtection: true,
  http5xxPercent: 1,
  staleQueueSeconds: 900,
};

export const CONTEXT_KEYS = {
  httpRateLimit: 'onceflow:httpRateLimit',
  httpBurstLimit: 'onceflow:httpBurstLimit',
  reservedConcurrency: 'onceflow:reservedConcurrency',
  accountConcurrency: 'onceflow:accountConcurrency',
  queueMaxConcurrency: 'onceflow:queueMaxConcurrency',
  deletionProtection: 'onceflow:deletionProtection',
  alarmEmail: 'onceflow:alarmEmail',
  http5xxPercent: 'onceflow:http5xxPercent',
  staleQueueSeconds: 'onceflow:staleQueueSeconds',
} as const;

/**
 * Reads the limits from context (strings from `-c` are parsed): each value over its default, and the
 * per-name maps merged into the defaults (`-c onceflow:queueMaxConcurrency='{"sends":150}'` keeps
 * the other queues' caps). A context key of ours that is not one of `CONTEXT_KEYS` (a typo) fails
 * at once; the names and ranges are checked against the manifest by the stack (`checkLimits`).
 */
export function limitsFromContext(node: Node): OperationalLimits {
  const known = new Set<string>(Object.values(CONTEXT_KEYS));
  for (const key of Object.keys(node.getAllContext())) {
    if (key.startsWith('onceflow:') && !known.has(key)) {
      throw new Error(
        `unknown context key '${key}'; onceflow reads ${[...known].map((k) => `'${k}'`).join(', ')}`,
      );
    }
  }
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
    accountConcurrency: positive(
      CONTEXT_KEYS.accountConcurrency,
      read(CONTEXT_KEYS.accountConcurrency),
      DEFAULT_LIMITS.accountConcurrency,
    ),
    queueMaxConcurrency: counts(
      CONTEXT_KEYS.queueMaxConcurrency,
      read(CONTEXT_KEYS.queueMaxConcurrency),
      DEFAULT_LIMITS.queueMaxConcurrency,
    ),
    deletionProtection: flag(
      CONTEXT_KEYS.deletionProtection,
      read(CONTEXT_KEYS.deletionProtection),
      DEFAULT_LIMITS.deletionProtection,
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

function flag(key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') {
    throw new Error(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A name → number map merged over the defaults; the numbers are checked by `checkLimits`. */
function counts(
  key: string,
  value: unknown,
  fallback: Readonly<Record<string, number>>,
): Record<string, number> {
  if (value === undefined || value === null) return { ...fallback };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`context ${key} must be an object of name → whole number`);
  }
  return { ...fallback, ...(value as Record<string, number>) };
}

/**
 * Refuses, naming the key and the value, limits AWS would refuse or that name nothing: a function
 * or queue the manifest does not declare, a maximum concurrency outside 2-1000, a reserved
 * concurrency that is not a whole number >= 0, reservations that leave less than 100 of the
 * account's concurrency unreserved, a 5xx threshold above 100 %.
 */
export function checkLimits(
  limits: OperationalLimits,
  declared: { readonly functions: readonly string[]; readonly queues: readonly string[] },
): void {
  const unknown = (key: string, kind: string, name: string, names: readonly string[]) =>
    new Error(`context ${key}: '${name}' is not a ${kind} of the manifest (${names.join(', ')})`);
  for (const [queue, n] of Object.entries(limits.queueMaxConcurrency)) {
    if (!declared.queues.includes(queue)) {
      throw unknown(CONTEXT_KEYS.queueMaxConcurrency, 'queue', queue, declared.queues);
    }
    const { min, max } = MAX_CONCURRENCY_RANGE;
    if (!Number.isInteger(n) || (n as number) < min || (n as number) > max) {
      throw new Error(
        `context ${CONTEXT_KEYS.queueMaxConcurrency}.${queue} must be a whole number from ${min} to ${max} (an SQS event source's maximum concurrency), got ${JSON.stringify(n)}`,
      );
    }
  }
  let reserved = 0;
  for (const [fn, n] of Object.entries(limits.reservedConcurrency)) {
    if (!declared.functions.includes(fn)) {
      throw unknown(CONTEXT_KEYS.reservedConcurrency, 'function', fn, declared.functions);
    }
    if (!Number.isInteger(n) || n < 0) {
      throw new Error(
        `context ${CONTEXT_KEYS.reservedConcurrency}.${fn} must be a whole number >= 0, got ${JSON.stringify(n)}`,
      );
    }
    reserved += n;
  }
  const room = limits.accountConcurrency - UNRESERVED_CONCURRENCY_MINIMUM;
  if (reserved > room) {
    throw new Error(
      `context ${CONTEXT_KEYS.reservedConcurrency} reserves ${reserved} in all, but Lambda must leave at least ${UNRESERVED_CONCURRENCY_MINIMUM} unreserved of the account's ${limits.accountConcurrency} (${CONTEXT_KEYS.accountConcurrency}): at most ${room}`,
    );
  }
  if (limits.http5xxPercent > 100) {
    throw new Error(
      `context ${CONTEXT_KEYS.http5xxPercent} is a percentage (0-100], got ${limits.http5xxPercent}`,
    );
  }
}
