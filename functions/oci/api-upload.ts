/**
 * API mode: the uploader schedule claims due rows under a lease, sends them to Google in batches of
 * at most 2,000 per customer with `partialFailure: true`, and records each row's answer in the
 * very next write (guarded by its claim). An unknown outcome (request error, quota, timeout, lost
 * answer) sends the row back to `retry` with backoff: the next upload carries the same orderId, so
 * Google counts it once whatever happened to the first.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric } from '../kernel/telemetry.js';
import { classifyGoogleError } from './error-mapping.js';
import type { GoogleAdsUploader } from './google-ads-client.js';
import { OciMetric } from './metrics.js';
import type { OciRow, RowKind } from './model.js';
import { keys, type OciStore, type RowResult } from './oci-store.js';
import {
  adjustmentExportRow,
  claimRows,
  conversionExportRow,
  countOutcome,
  toRowResult,
} from './script-export.js';

export const FP_UPLOAD_AFTER_CLAIM = defineFailpoint(
  'oci.upload.after-claim',
  'after the uploader claimed rows under its lease, before calling Google',
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

export interface UploadDeps {
  readonly store: OciStore;
  readonly clock: Clock;
  readonly google: GoogleAdsUploader;
  readonly leaseSeconds: number;
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
}

/** Backoff after an unknown outcome: 1, 2, 4 ... minutes, at most an hour. */
export function backoffMs(attempts: number): number {
  return Math.min(3600_000, 60_000 * 2 ** Math.max(0, attempts - 1));
}

/** A row as the Google Ads API names its fields: the script's row under the API's names. */
function toGoogleRow(row: OciRow): Record<string, unknown> {
  if (row.kind === 'conversion') {
    const { orderId, conversionName, conversionTime, value, currency, ...click } =
      conversionExportRow(row);
    return {
      ...click,
      conversionAction: conversionName,
      conversionDateTime: conversionTime,
      conversionValue: value,
      currencyCode: currency,
      orderId,
    };
  }
  const adjustment = adjustmentExportRow(row);
  return {
    conversionAction: adjustment.conversionName,
    adjustmentType: adjustment.adjustmentType,
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
  };
  // Conversions first, so a retraction finds its conversion counted in the same run.
  for (const kind of ['conversion', 'adjustment'] as RowKind[]) {
    await uploadKind(deps, kind, report);
  }
  return report;
}

async function uploadKind(deps: UploadDeps, kind: RowKind, report: UploadReport): Promise<void> {
  const maxRows = deps.maxRowsPerRun ?? 10_000;
  const batchSize = Math.min(deps.batchSize ?? MAX_ROWS_PER_REQUEST, MAX_ROWS_PER_REQUEST);
  const now = deps.clock.now();
  const nowIso = new Date(now).toISOString();
  const candidates = (
    await Promise.all(
      keys.uploadShards(kind).map((pk) => deps.store.pendingCandidates(pk, nowIso, maxRows)),
    )
  ).flat();
  if (candidates.length === 0) return;
  const claimId = `up_${randomUUID().replaceAll('-', '')}`;
  const rows = await claimRows(
    deps.store,
    candidates,
    maxRows,
    claimId,
    now,
    now + deps.leaseSeconds * 1000,
  );
  report.claimed += rows.length;
  if (rows.length === 0) return;
  failpoint(FP_UPLOAD_AFTER_CLAIM);
  const byCustomer = new Map<string, OciRow[]>();
  for (const row of rows) {
    const list = byCustomer.get(row.customerId) ?? [];
    list.push(row);
    byCustomer.set(row.customerId, list);
  }
  const operation =
    kind === 'conversion' ? 'uploadClickConversions' : 'uploadConversionAdjustments';
  for (const [customerId, list] of byCustomer) {
    for (let i = 0; i < list.length; i += batchSize) {
      const batch = list.slice(i, i + batchSize);
      report.requests += 1;
      const answer = await deps.google.upload(
        operation,
        customerId,
        batch.map(toGoogleRow),
        callTimeoutMs(deps.leaseSeconds),
      );
      const at = deps.clock.now();
      const atIso = new Date(at).toISOString();
      if (answer.kind === 'unknown') {
        report.unknownBatches += 1;
        countMetric(OciMetric.UploadUnknown);
        if (answer.reason === 'quota') countMetric(OciMetric.QuotaExceeded);
        await Promise.all(
          batch.map(async (row) => {
            const result: RowResult = {
              to: 'retry',
              notBefore: new Date(at + backoffMs(row.attempts)).toISOString(),
              error: `UNKNOWN_${answer.reason.toUpperCase()}`,
            };
            if (await deps.store.recordResult(row, claimId, result, atIso)) {
              report.retry += 1;
              countOutcome('retry');
            }
          }),
        );
        continue;
      }
      countMetric(OciMetric.UploadAccepted);
      failpoint(FP_UPLOAD_AFTER_GOOGLE);
      const record = async (row: OciRow, index: number) => {
        const error = answer.rowErrors.get(index);
        const outcome = error ? classifyGoogleError(error) : ({ to: 'completed' } as const);
        if (outcome.to === 'failed') countMetric(OciMetric.UploadRejected);
        const result = toRowResult(outcome, at, answer.jobId);
        if (await deps.store.recordResult(row, claimId, result, atIso)) {
          report[result.to] += 1;
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
  }
}
