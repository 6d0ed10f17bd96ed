/**
 * Google's per-row answers mapped to what happens to the row, shared by the script's ack and the
 * API-mode uploader so both read Google the same way (see the table in docs/oci.md).
 */
import { TOO_RECENT_WAIT_MS } from './model.js';

export type RowOutcome =
  | { readonly to: 'completed' }
  | { readonly to: 'retry'; readonly waitMs: number; readonly error?: string }
  | { readonly to: 'failed'; readonly error: string };

/** Google already holds this conversion (or retraction): it is counted once, so we are done. */
const ALREADY_APPLIED = new Set([
  'ORDER_ID_ALREADY_IN_USE',
  'DUPLICATE_ORDER_ID',
  'CLICK_CONVERSION_ALREADY_EXISTS',
  'DUPLICATE_CLICK_CONVERSION_IN_REQUEST',
  'CONVERSION_ALREADY_RETRACTED',
]);

/** The click (or the action) is under 6 hours old: Google will take it later. */
const TOO_RECENT = new Set(['TOO_RECENT_EVENT', 'TOO_RECENT_CONVERSION_ACTION']);

/** An adjustment of a conversion under 24 hours old, or one Google has not processed yet. */
const ADJUSTMENT_LATER = new Set(['TOO_RECENT_CONVERSION', 'CONVERSION_NOT_FOUND']);

export function classifyGoogleError(error: string): RowOutcome {
  if (ALREADY_APPLIED.has(error)) return { to: 'completed' };
  if (TOO_RECENT.has(error)) return { to: 'retry', waitMs: TOO_RECENT_WAIT_MS, error };
  if (ADJUSTMENT_LATER.has(error)) return { to: 'retry', waitMs: TOO_RECENT_WAIT_MS, error };
  return { to: 'failed', error };
}

/**
 * An ack line: Google's error decides when one is given, whatever `status` says (a script that
 * reports every Google error as `failed` still gets the mapping).
 */
export function classifyAck(status: 'completed' | 'failed' | 'retry', error?: string): RowOutcome {
  if (error) return classifyGoogleError(error);
  if (status === 'completed') return { to: 'completed' };
  if (status === 'retry') return { to: 'retry', waitMs: 0 };
  return { to: 'failed', error: 'FAILED_WITHOUT_CODE' };
}
