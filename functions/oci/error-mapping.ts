/**
 * Google's per-row answers mapped to what happens to the row, shared by the script's ack and the
 * API-mode uploader so both read Google the same way (see the table in docs/oci.md). Every code
 * named here exists in Google's enums (`ConversionUploadErrorEnum`,
 * `ConversionAdjustmentUploadErrorEnum`; test/unit/google-ads-protos.test.ts checks them against
 * the protos of `google-ads-node`).
 */
import {
  ADJUSTMENT_MAX_AGE_MS,
  MAX_NOT_FOUND_ATTEMPTS,
  type OciRow,
  TOO_RECENT_WAIT_MS,
} from './model.js';

export type RowOutcome =
  | { readonly to: 'completed'; readonly countedUnder?: 'click' }
  | { readonly to: 'retry'; readonly waitMs: number; readonly error?: string }
  | { readonly to: 'failed'; readonly error: string }
  | { readonly to: 'uploaded' };

/** Google already holds this conversion (or retraction) under this orderId: done. */
export const ALREADY_APPLIED = new Set([
  'ORDER_ID_ALREADY_IN_USE',
  'DUPLICATE_ORDER_ID',
  'CONVERSION_ALREADY_RETRACTED',
]);

/**
 * Google holds a conversion of the same click and conversion time under ANOTHER orderId: this one
 * is counted there (and only there).
 */
export const COUNTED_BY_CLICK = new Set([
  'CLICK_CONVERSION_ALREADY_EXISTS',
  'DUPLICATE_CLICK_CONVERSION_IN_REQUEST',
]);

/** The click (or the action) is under 6 hours old: Google will take it later. */
export const TOO_RECENT = new Set(['TOO_RECENT_EVENT', 'TOO_RECENT_CONVERSION_ACTION']);

/** An adjustment of a conversion under 24 hours old, or one Google has not processed yet. */
export const ADJUSTMENT_LATER = new Set(['TOO_RECENT_CONVERSION', 'CONVERSION_NOT_FOUND']);

export function classifyGoogleError(error: string): RowOutcome {
  if (ALREADY_APPLIED.has(error)) return { to: 'completed' };
  if (COUNTED_BY_CLICK.has(error)) return { to: 'completed', countedUnder: 'click' };
  if (TOO_RECENT.has(error)) return { to: 'retry', waitMs: TOO_RECENT_WAIT_MS, error };
  if (ADJUSTMENT_LATER.has(error)) return { to: 'retry', waitMs: TOO_RECENT_WAIT_MS, error };
  return { to: 'failed', error };
}

/**
 * Every retry has an end: an adjustment Google keeps answering `CONVERSION_NOT_FOUND` stops after
 * `MAX_NOT_FOUND_ATTEMPTS` attempts, and in any case once its next try would fall past the 54-day
 * adjustment window (Google would answer `CONVERSION_EXPIRED`). It ends `failed`, the code kept.
 */
export function withRetryEnd(outcome: RowOutcome, row: OciRow, now: number): RowOutcome {
  if (outcome.to !== 'retry' || outcome.error !== 'CONVERSION_NOT_FOUND') return outcome;
  const windowEnd =
    Date.parse(row.kind === 'adjustment' ? row.conversionTime : '') + ADJUSTMENT_MAX_AGE_MS;
  if (row.attempts >= MAX_NOT_FOUND_ATTEMPTS || now + outcome.waitMs > windowEnd) {
    return { to: 'failed', error: 'CONVERSION_NOT_FOUND' };
  }
  return outcome;
}

export type AckStatus = 'completed' | 'failed' | 'retry' | 'uploaded';

/**
 * An ack line: Google's error decides when one is given, whatever `status` says (a script that
 * reports every Google error as `failed` still gets the mapping). `uploaded`: handed to Google,
 * per-row result not readable (the Google Ads Scripts bulk upload exposes none).
 */
export function classifyAck(status: AckStatus, error?: string): RowOutcome {
  if (error) return classifyGoogleError(error);
  if (status === 'completed') return { to: 'completed' };
  if (status === 'uploaded') return { to: 'uploaded' };
  if (status === 'retry') return { to: 'retry', waitMs: 0 };
  return { to: 'failed', error: 'FAILED_WITHOUT_CODE' };
}
