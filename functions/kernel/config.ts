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

/**
 * A positive number of seconds from the environment variable `name`, or `fallback` when it is not
 * set; anything else refuses to run. Contexts read their own windows with it (`functions/<context>/
 * settings.ts`); the kernel keeps only the windows several contexts share.
 */
export function seconds(name: string, fallback: number): number {
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

/**
 * The windows from `api.md` that more than one context reads: settings on AWS as well as locally.
 * A context's own windows live in the context (`campaigns/settings.ts`, `oci/settings.ts`).
 */
export const settings = {
  /** How long a worker's claim on an item lasts (campaign sends, jobs, OCI uploads, schedules). */
  get leaseSeconds(): number {
    return seconds('ONCEFLOW_LEASE_SECONDS', 60);
  },
  /** How long an outcome waits for evidence (campaign sends, ledger conversions). */
  get reconcileWindowSeconds(): number {
    return seconds('ONCEFLOW_RECONCILE_WINDOW_SECONDS', 600);
  },
};

/** True inside the local runtime and the test harness, never on AWS. */
export function isLocal(): boolean {
  return process.env.ONCEFLOW_LOCAL === '1';
}
