/**
 * API mode: the uploader schedule sends due rows to Google in requests of at most 2,000 rows per
 * customer with `partialFailure: true`. Each request has its own lease: its rows are claimed just
 * before it is sent, and the call is cut well before that lease ends, so no row is ever sent after
 * its lease expired (when the stale recovery may have handed it to the next run). Each row's answer
 * is recorded in the very next write, guarded by the request's claim. An unknown outcome (request
 * error, quota, timeout, lost answer) sends the row back to `retry` with backoff: the next upload
 * carries the same orderId, so Google counts it once whatever happened to the first. Two runs that
 * overlap (a run longer than the schedule's minute) cannot send one row twice: each row is claimed
 * by one conditional write, whoever's candidate list proposed it.
 *
 * The API version is a policy (`kernel/provider-versions.ts`): a version past its sunset (or one the
 * calendar does not know) is refused before anything is claimed, and an answer meaning "this
 * version does not exist" holds the rows (not retried for an hour) and stops the run; both move
 * `ProviderVersionRejected`, which has an alarm (docs/runbook.md says what to do).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { checkVersion, isRefused } from '../kernel/provider-versions.js';
import { countMetric, logger, reportUnreadable } from '../kernel/telemetry.js';
import { classifyGoogleError, withRetryEnd } from './error-mapping.js';
import type { GoogleAdsUploader, GoogleRow } from './google-ads-client.js';
import { keys } from './items.js';
import { OciMetric } from './metrics.js';
import type { OciRow, RowKind } from './model.js';
import type { Candidate, OciStore, RowResult } from './oci-store.js';
import {
  adjustmentExportRow,
  claimRows,
  conversionExportRow,
  countOutcome,
  toRowResult,
} from './script-export.js';

export const FP_UPLOAD_AFTER_CLAIM = defineFailpoint(
  'oci.upload.after-claim',
  "after the uploader claimed one request's rows under its lease, before calling Google",
);
export const FP_UPLOAD_AFTER_GOOGLE = defineFailpoint(
  'oci.upload.after-google-answer',
  'after Google answered an upload, before any result is recorded',
);
export const FP_UPLOAD_AFTER_FIRST_RESULT = defineFailpoint(
  'oci.upload.after-first-result',
  'after the first row of an answered batch was recorded, before the rest',
);

export const MAX_ROWS_PER_REQUEST = 2000;

/** Rows of a request Google refused for its version wait this long: a configuration error. */
export const VERSION_HOLD_MS = 3600_000;

/** A call shorter than this is not worth sending: the rows go back unsent. */
const MIN_CALL_MS = 1000;

export interface UploadDeps {
  readonly store: OciStore;
  readonly clock: Clock;
  readonly google: GoogleAdsUploader;
  readonly leaseSeconds: number;
  /** The Google Ads API version the client speaks (`GOOGLE_ADS_API_VERSION`). */
  readonly apiVersion: string;
  /** Rows claimed per kind per run. @default 10000 */
  readonly maxRowsPerRun?: number;
  /** @default 2000 */
  readonly batchSize?: number;
}

export interface UploadReport {
  claimed: number;
  completed: number;
  retry: number;
  failed: number;
  unknownBatches: number;
  requests: number;
  /** The version was refused (by the calendar or by Google): the run stopped, rows held. */
  versionRejected: boolean;
}

/** Backoff after an unknown outcome: 1, 2, 4 ... minutes, at most an hour. */
export function backoffMs(attempts: number): number {
  return Math.min(3600_000, 60_000 * 2 ** Math.max(0, attempts - 1));
}

/**
 * A row as the Google Ads API names its fields (`ClickConversion`, `ConversionAdjustment` in Google's
 * protos; test/integration/oci/oci-provider.test.ts validates every request against them).
 */
function toGoogleRow(row: OciRow): GoogleRow {
  const conversionAction = row.conversionAction ?? row.conversionName;
  if (row.kind === 'conversion') {
    const exported = conversionExportRow(row);
    return {
      [row.clickKind]: row.clickId,
      conversionAction,
      conversionDateTime: exported.conversionTime,
      conversionValue: exported.value,
      currencyCode: exported.currency,
      orderId: exported.orderId,
    };
  }
  const adjustment = adjustmentExportRow(row);
  return {
    conversionAction,
    adjustmentType: row.adjustmentType,
    adjustmentDateTime: adjustment.adjustmentTime,
    orderId: adjustment.orderId,
  };
}

/** The Google call must end well inside the lease, so no row outlives its lease unanswered. */
export function callTimeoutMs(leaseSeconds: number): number {
  return Math.max(1000, Math.min(30_000, (leaseSeconds * 1000) / 2));
}

export async function uploadPending(deps: UploadDeps): Promise<UploadReport> {
  const report: UploadReport = {
    claimed: 0,
    completed: 0,
    retry: 0,
    failed: 0,
    unknownBatches: 0,
    requests: 0,
    versionRejected: false,
  };
  const version = checkVersion('googleAds', deps.apiVersion, deps.clock.now());
  if (isRefused(version)) {
    // Nothing is claimed: the rows wait, untouched, for a version Google serves.
    countMetric(OciMetric.VersionRejected);
    logger.error('google ads api version refused; nothing uploaded', { reason: version.message });
    report.versionRejected = true;
    return report;
  }
  // Conversions first, so a retraction finds its conversion counted in the same run.
  for (const kind of ['conversion', 'adjustment'] as RowKind[]) {
    if (report.versionRejected) break;
    await uploadKind(deps, kind, report);
  }
  return report;
}

async function uploadKind(deps: UploadDeps, kind: RowKind, report: UploadReport): Promise<void> {
  const maxRows = deps.maxRowsPerRun ?? 10_000;
  const batchSize = Math.min(deps.batchSize ?? MAX_ROWS_PER_REQUEST, MAX_ROWS_PER_REQUEST);
  const nowIso = new Date(deps.clock.now()).toISOString();
  const shards = await Promise.all(
    keys.uploadShards(kind).map((pk) => deps.store.pendingCandidates(pk, nowIso, maxRows)),
  );
  reportUnreadable(
    'oci.upload',
    shards.flatMap((shard) => shard.unreadable),
  );
  const candidates = shards.flatMap((shard) => shard.read).slice(0, maxRows);
  const byCustomer = new Map<string, Candidate[]>();
  for (const candidate of candidates) {
    const list = byCustomer.get(candidate.customerId) ?? [];
    list.push(candidate);
    byCustomer.set(candidate.customerId, list);
  }
  for (const [customerId, list] of byCustomer) {
    for (let i = 0; i < list.length; i += batchSize) {
      if (report.versionRejected) return;
      await sendRequest(deps, kind, customerId, list.slice(i, i + batchSize), report);
    }
  }
}

/** One request: its own claim and lease, the call bounded inside the lease, its answers recorded. */
async function sendRequest(
  deps: UploadDeps,
  kind: RowKind,
  customerId: string,
  candidates: readonly Candidate[],
  report: UploadReport,
): Promise<void> {
  const claimId = `up_${randomUUID().replaceAll('-', '')}`;
  const now = deps.clock.now();
  const leaseExpiresAt = now + deps.leaseSeconds * 1000;
  const batch = await claimRows(
    deps.store,
    candidates,
    candidates.length,
    claimId,
    now,
    leaseExpiresAt,
  );
  report.claimed += batch.length;
  if (batch.length === 0) return;
  failpoint(FP_UPLOAD_AFTER_CLAIM);
  const release = async (result: (row: OciRow) => RowResult, atIso: string) => {
    await Promise.all(
      batch.map(async (row) => {
        if (await deps.store.recordResult(row, claimId, result(row), atIso)) {
          report.retry += 1;
          countOutcome('retry');
        }
      }),
    );
  };
  // Nothing is sent past its lease: the call is cut before the lease ends, whatever it costs.
  const timeoutMs = Math.min(callTimeoutMs(deps.leaseSeconds), leaseExpiresAt - deps.clock.now());
  if (timeoutMs < MIN_CALL_MS) {
    const atIso = new Date(deps.clock.now()).toISOString();
    await release(() => ({ to: 'retry', notBefore: atIso, error: 'NOT_SENT' }), atIso);
    return;
  }
  report.requests += 1;
  const operation =
    kind === 'conversion' ? 'uploadClickConversions' : 'uploadConversionAdjustments';
  const answer = await deps.google.upload(operation, customerId, batch.map(toGoogleRow), timeoutMs);
  const at = deps.clock.now();
  const atIso = new Date(at).toISOString();
  if (answer.kind === 'version_rejected') {
    countMetric(OciMetric.VersionRejected);
    logger.error('google ads refused the api version; rows held', {
      version: deps.apiVersion,
      detail: answer.detail,
    });
    report.versionRejected = true;
    const notBefore = new Date(at + VERSION_HOLD_MS).toISOString();
    await release(() => ({ to: 'retry', notBefore, error: 'PROVIDER_VERSION_REJECTED' }), atIso);
    return;
  }
  if (answer.kind === 'unknown') {
    report.unknownBatches += 1;
    countMetric(OciMetric.UploadUnknown);
    if (answer.reason === 'quota') countMetric(OciMetric.QuotaExceeded);
    if (answer.reason === 'refused') {
      // Authentication, permission or a malformed request: it will not get better by itself, so
      // it has an alarm (docs/runbook.md); the rows wait with backoff, Google processed none.
      countMetric(OciMetric.UploadRejected);
      logger.error('google ads refused the upload request', { detail: answer.detail });
    }
    const error =
      answer.reason === 'refused' ? 'REQUEST_REFUSED' : `UNKNOWN_${answer.reason.toUpperCase()}`;
    await release(
      (row) => ({
        to: 'retry',
        notBefore: new Date(at + backoffMs(row.attempts)).toISOString(),
        error,
      }),
      atIso,
    );
    return;
  }
  countMetric(OciMetric.UploadAccepted);
  failpoint(FP_UPLOAD_AFTER_GOOGLE);
  const record = async (row: OciRow, index: number) => {
    const error = answer.rowErrors.get(index);
    const outcome = error
      ? withRetryEnd(classifyGoogleError(error), row, at)
      : ({ to: 'completed' } as const);
    const result = toRowResult(outcome, at, answer.jobId);
    if (await deps.store.recordResult(row, claimId, result, atIso)) {
      if (result.to !== 'uploaded') report[result.to] += 1;
      countOutcome(result.to);
    }
  };
  const [first, ...rest] = batch;
  if (first) await record(first, 0);
  failpoint(FP_UPLOAD_AFTER_FIRST_RESULT);
  for (let j = 0; j < rest.length; j += 32) {
    await Promise.all(rest.slice(j, j + 32).map((row, k) => record(row, j + k + 1)));
  }
}
