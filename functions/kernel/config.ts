/**
 * Run-time configuration, read from the environment the manifest gives each function.
 * Nothing here has a default that would be wrong on AWS: table and queue names must be set.
 */
import {
  envNameForQueue,
  envNameForTable,
  type QueueName,
  type TableName,
} from './resource-names.js';

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigurationError(`environment variable ${name} is not set`);
  return value;
}

export function tableName(table: TableName): string {
  return required(envNameForTable(table));
}

export function queueUrl(queue: QueueName): string {
  return required(envNameForQueue(queue));
}

function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`${name} must be a positive number of seconds, got ${raw}`);
  }
  return value;
}

/** Set by the stack on every queue consumer: the manifest's `recordSeconds` of its trigger. */
export const RECORD_SECONDS_ENV = 'ONCEFLOW_RECORD_SECONDS';

/**
 * The longest one queue record can take (the manifest's `recordSeconds`), or undefined where no
 * stack set it (the consumer then takes every record of its batch).
 */
export function recordSeconds(): number | undefined {
  const raw = process.env[RECORD_SECONDS_ENV];
  return raw === undefined || raw === '' ? undefined : seconds(RECORD_SECONDS_ENV, 0);
}

/** Windows from `api.md`: settings on AWS as well as locally. */
export const settings = {
  get leaseSeconds(): number {
    return seconds('ONCEFLOW_LEASE_SECONDS', 60);
  },
  get reconcileWindowSeconds(): number {
    return seconds('ONCEFLOW_RECONCILE_WINDOW_SECONDS', 600);
  },
  get ociStaleSeconds(): number {
    return seconds('ONCEFLOW_OCI_STALE_SECONDS', 900);
  },
  /** The longest one provider call (e.g. a WhatsApp send) may stay in flight before it is cut. */
  get providerTimeoutSeconds(): number {
    return seconds('ONCEFLOW_PROVIDER_TIMEOUT_SECONDS', 10);
  },
};

/**
 * Why a reconcile window / provider timeout pair would break the at-most-once promise, or
 * undefined when it is safe: recovery treats a send with no evidence after the window as finished,
 * so a window that does not exceed the provider call timeout lets it settle (and, under
 * `retry_once`, release) a contact whose call is still running — two senders, two messages.
 */
export function reconcileWindowProblem(
  reconcileWindowSeconds: number,
  providerTimeoutSeconds: number,
): string | undefined {
  if (reconcileWindowSeconds > providerTimeoutSeconds) return undefined;
  return (
    `ONCEFLOW_RECONCILE_WINDOW_SECONDS (${reconcileWindowSeconds}) must exceed ` +
    `ONCEFLOW_PROVIDER_TIMEOUT_SECONDS (${providerTimeoutSeconds}): a window that ends while a ` +
    'provider call can still be in flight allows a second send'
  );
}

/** Refuses to run with a window that does not exceed the provider call timeout (at init). */
export function assertSafeReconcileWindow(): void {
  const problem = reconcileWindowProblem(
    settings.reconcileWindowSeconds,
    settings.providerTimeoutSeconds,
  );
  if (problem) throw new ConfigurationError(problem);
}

/** True inside the local runtime and the test harness, never on AWS. */
export function isLocal(): boolean {
  return process.env.ONCEFLOW_LOCAL === '1';
}
