/**
 * The OCI (offline conversion import) model: calls, the one conversion per session, its
 * retraction, and the states both move through. Pure: no AWS, no environment.
 */
import { createHash } from 'node:crypto';

export type ClickKind = 'gclid' | 'gbraid' | 'wbraid';
export type UploadMode = 'script' | 'api';
/** A conversion upload or a retraction adjustment: both are claimed, uploaded and acked alike. */
export type RowKind = 'conversion' | 'adjustment';

/** `withdrawn`: retracted before it was ever claimed, so never uploaded. */
export type RowStatus = 'queued' | 'processing' | 'retry' | 'completed' | 'failed' | 'withdrawn';

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
  readonly uploadMode: UploadMode;
}

/** What both row kinds carry for claiming and recording. */
export interface RowBase {
  readonly kind: RowKind;
  readonly tenantId: string;
  readonly conversionId: string;
  readonly orderId: string;
  readonly conversionName: string;
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
