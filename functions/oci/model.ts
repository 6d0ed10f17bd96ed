/**
 * The OCI (offline conversion import) model: calls, the one conversion per session, its
 * retraction, and the states both move through. Pure: no AWS, no environment.
 */
import { createHash } from 'node:crypto';

export type ClickKind = 'gclid' | 'gbraid' | 'wbraid';
export type UploadMode = 'script' | 'api';
/** A conversion upload or a retraction adjustment: both are claimed, uploaded and acked alike. */
export type RowKind = 'conversion' | 'adjustment';

/**
 * `withdrawn`: retracted before Google counted it, so never uploaded again. `uploaded`: the Google
 * Ads script handed it to Google's bulk upload, whose per-row result the Scripts API does not
 * expose: neither counted nor refused as far as onceflow knows, never uploaded again, settled by a
 * later ack that carries Google's per-row answer.
 */
export type RowStatus =
  | 'queued'
  | 'processing'
  | 'retry'
  | 'completed'
  | 'failed'
  | 'withdrawn'
  | 'uploaded';

export const PENDING_STATES: readonly RowStatus[] = ['queued', 'retry'];

export interface Call {
  readonly tenantId: string;
  readonly callId: string;
  readonly sessionId: string;
  readonly clickKind: ClickKind;
  readonly clickId: string;
  readonly source: 'click';
  readonly occurredAt: string;
  readonly createdAt: string;
}

export interface GoogleAdsSettings {
  readonly customerId: string;
  readonly conversionAction: string;
  /** The conversion action's name as the account shows it: what a CSV import matches on. */
  readonly conversionName?: string;
  readonly uploadMode: UploadMode;
}

/** What both row kinds carry for claiming and recording. */
export interface RowBase {
  readonly kind: RowKind;
  readonly tenantId: string;
  readonly conversionId: string;
  readonly orderId: string;
  /** The conversion action's display name: the CSV import's `Conversion Name`. */
  readonly conversionName: string;
  /**
   * Its resource name (`customers/…/conversionActions/…`): the API's `conversion_action`. Absent on
   * rows sealed before it was stored, whose `conversionName` held the resource name.
   */
  readonly conversionAction?: string;
  readonly customerId: string;
  readonly uploadMode: UploadMode;
  readonly status: RowStatus;
  readonly attempts: number;
  readonly createdAt: string;
  /** Not claimable before this ISO time (the 6-hour Google wait, the 24-hour adjustment wait, backoff). */
  readonly notBefore: string;
  readonly claimId?: string;
  readonly claimedAt?: string;
  /** Epoch ms. */
  readonly leaseExpiresAt?: number;
  readonly lastError?: string;
  /** Google's int64 job id, kept as the decimal string the API sends. */
  readonly jobId?: string;
  readonly completedAt?: string;
}

export interface Conversion extends RowBase {
  readonly kind: 'conversion';
  readonly sessionId: string;
  readonly callId: string;
  readonly clickKind: ClickKind;
  readonly clickId: string;
  readonly conversionTime: string;
  readonly value: number;
  readonly currency: string;
  readonly retractRequestedAt?: string;
  readonly retractedAt?: string;
  /**
   * Google answered that this click and conversion time is already counted
   * (`CLICK_CONVERSION_ALREADY_EXISTS`): counted under another orderId, so a retraction by this
   * orderId would find nothing and one by click and time would take the other session's.
   */
  readonly countedUnder?: 'click';
}

export interface Adjustment extends RowBase {
  readonly kind: 'adjustment';
  readonly adjustmentType: 'RETRACTION';
  readonly adjustmentTime: string;
  readonly conversionTime: string;
}

export type OciRow = Conversion | Adjustment;

/** The per-session uniqueness item: names the session's one conversion. */
export interface SessionClaim {
  readonly tenantId: string;
  readonly sessionId: string;
  readonly orderId: string;
  readonly conversionId: string;
  readonly callId: string;
}

/**
 * Google's order id for a session: deterministic (every re-upload of the session carries it, so
 * Google deduplicates), free of personal data (a hash, not the ids), at most 64 characters of
 * letters and digits as Google's `order_id` allows.
 */
export function orderIdFor(tenantId: string, sessionId: string): string {
  const digest = createHash('sha256')
    .update(`onceflow-oci-order\n${tenantId}\n${sessionId}`, 'utf8')
    .digest('hex');
  return `oc${digest.slice(0, 40)}`;
}

/** `2026-11-22T05:19:55.000Z` → `2026-11-22 05:19:55+00:00` (Google's conversion time format). */
export function googleTime(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(
    d.getUTCHours(),
  )}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}+00:00`;
}

export const HOUR_MS = 3600_000;
/** Google refuses a click younger than 6 hours (TOO_RECENT_EVENT); wait that long. */
export const TOO_RECENT_WAIT_MS = 6 * HOUR_MS;
/** Google accepts an adjustment only once the conversion is 24 hours old. */
export const ADJUSTMENT_MIN_AGE_MS = 24 * HOUR_MS;
/** ... and at most 54 days old. */
export const ADJUSTMENT_MAX_AGE_MS = 54 * 24 * HOUR_MS;
/**
 * `CONVERSION_NOT_FOUND` is retried every 6 hours while Google may still be processing the
 * conversion, at most this many times (8 × 6 h = 2 days past the 24-hour minimum age: Google
 * processes an accepted upload within hours) and never past the 54-day window.
 */
export const MAX_NOT_FOUND_ATTEMPTS = 8;

/**
 * Errors by which Google said, row by row, that it did NOT count the conversion (so a retraction of
 * a conversion waiting in `retry` with one of these is a plain withdrawal), as opposed to an
 * unknown outcome (a lost answer, a request-level error, a lease that expired), which may have been
 * counted. `NOT_SENT`: the uploader released the row without sending it. `REQUEST_REFUSED`: Google
 * refused the whole request (HTTP 400/401/403, a revoked OAuth grant) and processed none of it.
 */
export const KNOWN_UNCOUNTED_ERRORS: readonly string[] = [
  'TOO_RECENT_EVENT',
  'TOO_RECENT_CONVERSION_ACTION',
  'PROVIDER_VERSION_REJECTED',
  'NOT_SENT',
  'REQUEST_REFUSED',
];

/**
 * A conversion waiting in `retry` that Google said, row by row, it did not count: retracting it is
 * a plain withdrawal. API mode only: there the answer is recorded under the claim of the request
 * it answers. A script's ack names no export, so a late answer about an older upload (its row gone
 * stale and uploaded again, counted this time) would land on the newer upload and pass a counted
 * conversion off as uncounted; in script mode the retraction goes instead (harmless if it was not).
 */
export function knownUncounted(row: Pick<RowBase, 'status' | 'uploadMode' | 'lastError'>): boolean {
  return (
    row.status === 'retry' &&
    row.uploadMode === 'api' &&
    KNOWN_UNCOUNTED_ERRORS.includes(row.lastError ?? '')
  );
}

/**
 * A conversion is due no earlier than its click + 6 hours: Google refuses a younger click
 * (`TOO_RECENT_EVENT`), and in script mode that refusal is only visible in the bulk upload's own
 * results, so it must never be provoked.
 */
export function conversionDueAt(clickAt: string, now: number): string {
  return new Date(Math.max(now, Date.parse(clickAt) + TOO_RECENT_WAIT_MS)).toISOString();
}
