/**
 * Script mode: the Google Ads script fetches claimed rows (JSON or Google's CSV) and acks Google's
 * answers. Each row is claimed by a conditional write on its own item (`queued`/`retry` →
 * `processing` with this export's claim id), so two concurrent exports never return the same row,
 * whatever the sparse index said.
 */
import { randomUUID } from 'node:crypto';
import { type Clock, isoTime } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric, reportUnreadable } from '../kernel/telemetry.js';
import { type AckStatus, classifyAck, withRetryEnd } from './error-mapping.js';
import { keys } from './items.js';
import { OciMetric } from './metrics.js';
import {
  type Adjustment,
  type Conversion,
  googleTime,
  type OciRow,
  type RowKind,
} from './model.js';
import type { OciStore, RowRef, RowResult } from './oci-store.js';

export const FP_EXPORT_AFTER_CLAIM = defineFailpoint(
  'oci.export.after-claim',
  'after the export claimed its rows (processing), before it answers the script',
);
export const FP_ACK_AFTER_SOME = defineFailpoint(
  'oci.ack.after-first-row',
  'after an ack applied its first row, before the rest',
);

export interface ExportDeps {
  readonly store: OciStore;
  readonly clock: Clock;
  /** How long an exported row stays `processing` before the stale recovery returns it. */
  readonly staleSeconds: number;
}

/**
 * Google's offline conversion import templates (Google Ads Help, "Import conversions from ad clicks
 * into Google Ads", https://support.google.com/google-ads/answer/7014069): one time zone for the
 * whole file in the `Parameters:TimeZone=` line (an offset or a time zone id), and each time as
 * `yyyy-MM-dd HH:mm:ss` in that zone. onceflow's times are UTC, so the zone is `+0000`.
 */
export const CSV_TIME_ZONE = '+0000';

/**
 * The adjustment file spells the type `RETRACT` / `RESTATE`: the offline conversion adjustment
 * feed's own enum (AdWords API v201809 `OfflineConversionAdjustmentFeed.adjustmentType`:
 * "RETRACT, RESTATE"), not the Google Ads API's `RETRACTION` (`ConversionAdjustmentTypeEnum`).
 */
export const CSV_ADJUSTMENT_TYPE = { RETRACTION: 'RETRACT' } as const;

/** `2026-11-22T05:19:55.000Z` → `2026-11-22 05:19:55` (UTC, the file's `+0000` zone). */
export function csvTime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

export interface ConversionExportRow {
  readonly orderId: string;
  readonly gclid?: string;
  readonly gbraid?: string;
  readonly wbraid?: string;
  /** The action's name as the account shows it (the CSV's `Conversion Name`). */
  readonly conversionName: string;
  /** Its resource name (the API's `conversion_action`). */
  readonly conversionAction: string;
  /** The API's format, `2026-11-22 05:19:55+00:00`. */
  readonly conversionTime: string;
  /** The CSV template's format, in the file's `+0000` zone: `2026-11-22 05:19:55`. */
  readonly csvConversionTime: string;
  readonly value: number;
  readonly currency: string;
}

export interface AdjustmentExportRow {
  readonly orderId: string;
  readonly conversionName: string;
  readonly conversionAction: string;
  readonly adjustmentTime: string;
  readonly csvAdjustmentTime: string;
  /** The API's enum value. */
  readonly adjustmentType: 'RETRACTION';
  /** The adjustment template's spelling. */
  readonly csvAdjustmentType: 'RETRACT';
}

export type ExportAnswer =
  | { readonly kind: 'conversions'; readonly claimId: string; readonly rows: ConversionExportRow[] }
  | {
      readonly kind: 'adjustments';
      readonly claimId: string;
      readonly rows: AdjustmentExportRow[];
    };

const CLAIM_CONCURRENCY = 16;

/** Claims up to `limit` due rows of the tenant, in parallel, each by its own conditional write. */
export async function claimRows(
  store: OciStore,
  candidates: readonly RowRef[],
  limit: number,
  claimId: string,
  now: number,
  leaseExpiresAt: number,
): Promise<OciRow[]> {
  const claimed: OciRow[] = [];
  let next = 0;
  let inFlight = 0;
  async function worker() {
    // Never start more claims than the limit still allows, so no row is claimed only to be given back.
    while (next < candidates.length && claimed.length + inFlight < limit) {
      const ref = candidates[next++] as RowRef;
      inFlight += 1;
      const row = await store.claim(ref, { claimId, now, leaseExpiresAt });
      inFlight -= 1;
      if (row) claimed.push(row);
    }
  }
  await Promise.all(Array.from({ length: CLAIM_CONCURRENCY }, worker));
  if (claimed.length > 0) countMetric(OciMetric.RowsClaimed, claimed.length);
  return claimed;
}

export async function exportRows(
  deps: ExportDeps,
  tenantId: string,
  kind: 'conversions' | 'adjustments',
  limit: number,
): Promise<ExportAnswer> {
  const rowKind: RowKind = kind === 'conversions' ? 'conversion' : 'adjustment';
  const now = deps.clock.now();
  const claimId = `cl_${randomUUID().replaceAll('-', '')}`;
  // Ask the index for more than the limit: some candidates may be stale or claimed meanwhile.
  const candidates = await deps.store.pendingCandidates(
    keys.pending('script', tenantId, rowKind, ''),
    new Date(now).toISOString(),
    Math.min(limit * 2, 4000),
  );
  reportUnreadable('oci.export', candidates.unreadable);
  const rows = await claimRows(
    deps.store,
    candidates.read,
    limit,
    claimId,
    now,
    now + deps.staleSeconds * 1000,
  );
  failpoint(FP_EXPORT_AFTER_CLAIM);
  if (kind === 'conversions') {
    return { kind, claimId, rows: rows.filter(isConversion).map(conversionExportRow) };
  }
  return { kind, claimId, rows: rows.filter(isAdjustment).map(adjustmentExportRow) };
}

const isConversion = (row: OciRow): row is Conversion => row.kind === 'conversion';
const isAdjustment = (row: OciRow): row is Adjustment => row.kind === 'adjustment';

/** A conversion as Google's formats carry it: its click, the action, Google's time format. */
export function conversionExportRow(row: Conversion): ConversionExportRow {
  return {
    orderId: row.orderId,
    [row.clickKind]: row.clickId,
    conversionName: row.conversionName,
    conversionAction: row.conversionAction ?? row.conversionName,
    conversionTime: googleTime(row.conversionTime),
    csvConversionTime: csvTime(row.conversionTime),
    value: row.value,
    currency: row.currency,
  };
}

/** A retraction as Google's formats carry it. */
export function adjustmentExportRow(row: Adjustment): AdjustmentExportRow {
  return {
    orderId: row.orderId,
    conversionName: row.conversionName,
    conversionAction: row.conversionAction ?? row.conversionName,
    adjustmentTime: googleTime(row.adjustmentTime),
    csvAdjustmentTime: csvTime(row.adjustmentTime),
    adjustmentType: row.adjustmentType,
    csvAdjustmentType: CSV_ADJUSTMENT_TYPE[row.adjustmentType],
  };
}

/**
 * A cell a spreadsheet could read as a formula starts with one of OWASP's "CSV Injection" triggers
 * (https://owasp.org/www-community/attacks/CSV_Injection): `=`, `+`, `-`, `@`, tab (0x09), carriage
 * return (0x0D); and their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20), which some spreadsheet
 * applications normalise to the ASCII ones.
 */
const FORMULA_START = /^(?:[\s\p{Cc}]*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]|\p{Cc})/u;

/**
 * A trigger where some reader starts a new cell inside this one: after a `;` (Excel's separator in
 * the locales whose decimal mark is a comma, which splits there whatever the RFC 4180 quotes say,
 * since our quote is not at the start of its cell), a tab, or a line break; blanks and control
 * characters before it are skipped, as an importer that trims them does.
 */
const FORMULA_INSIDE = /([;\t\r\n][\s\p{Cc}]*)(?=[=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/gu;

/**
 * One CSV cell: OWASP's mitigation (a leading `'` so the cell is text, then the whole cell quoted
 * with its quotes doubled) for a cell that could start a formula, also after leading blanks, or
 * starting with any control character (ASVS 5.0 V1.2.10 adds `\0`), and wherever a `;`, tab or
 * line break lets a reader start a cell inside it; RFC 4180 quoting for the rest.
 */
export function csvField(value: string | number | undefined): string {
  const text = value === undefined ? '' : String(value);
  if (typeof value !== 'string') return text;
  const inner = text.replace(FORMULA_INSIDE, "$1'");
  if (FORMULA_START.test(inner)) return `"'${inner.replaceAll('"', '""')}"`;
  return /[",;\t\n\r]/.test(inner) ? `"${inner.replaceAll('"', '""')}"` : inner;
}

/** Google Ads' offline conversion (or adjustment) import file, in its templates' formats. */
export function exportCsv(answer: ExportAnswer): string {
  const lines = [`Parameters:TimeZone=${CSV_TIME_ZONE}`];
  if (answer.kind === 'conversions') {
    const braids = answer.rows.some((r) => r.gbraid || r.wbraid);
    lines.push(
      [
        'Google Click ID',
        ...(braids ? ['GBRAID', 'WBRAID'] : []),
        'Conversion Name',
        'Conversion Time',
        'Conversion Value',
        'Conversion Currency',
        'Order ID',
      ].join(','),
    );
    for (const r of answer.rows) {
      lines.push(
        [
          r.gclid,
          ...(braids ? [r.gbraid, r.wbraid] : []),
          r.conversionName,
          r.csvConversionTime,
          r.value,
          r.currency,
          r.orderId,
        ]
          .map(csvField)
          .join(','),
      );
    }
  } else {
    lines.push(
      'Order ID,Conversion Name,Adjustment Time,Adjustment Type,Adjusted Value,Adjusted Value Currency',
    );
    for (const r of answer.rows) {
      lines.push(
        [r.orderId, r.conversionName, r.csvAdjustmentTime, r.csvAdjustmentType, '', '']
          .map(csvField)
          .join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface AckLine {
  readonly orderId: string;
  readonly status: AckStatus;
  readonly error?: string;
}

export function toRowResult(
  outcome: ReturnType<typeof classifyAck>,
  now: number,
  jobId?: string,
): RowResult {
  if (outcome.to === 'completed') {
    return {
      to: 'completed',
      ...(jobId !== undefined ? { jobId } : {}),
      ...(outcome.countedUnder ? { countedUnder: outcome.countedUnder } : {}),
    };
  }
  if (outcome.to === 'failed') return { to: 'failed', error: outcome.error };
  if (outcome.to === 'uploaded') return { to: 'uploaded' };
  return {
    to: 'retry',
    notBefore: new Date(now + outcome.waitMs).toISOString(),
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}

export function countOutcome(to: RowResult['to'], n = 1): void {
  if (n <= 0) return;
  const metric = {
    completed: OciMetric.RowsCompleted,
    failed: OciMetric.RowsFailed,
    retry: OciMetric.RowsRetry,
    uploaded: OciMetric.RowsUnconfirmed,
  }[to];
  countMetric(metric, n);
}

/**
 * Applies the script's answers. The row is found by the tenant's session item for that orderId (a
 * consistent get by key), so another tenant's orderId finds nothing; a second ack of the same
 * answer finds the row already moved and changes nothing.
 */
export async function ackRows(
  deps: Pick<ExportDeps, 'store' | 'clock'>,
  tenantId: string,
  kind: 'conversions' | 'adjustments',
  lines: readonly AckLine[],
): Promise<{ updated: number }> {
  let updated = 0;
  for (const line of lines) {
    const session = await deps.store.getSession(tenantId, line.orderId);
    if (!session) continue;
    const now = deps.clock.now();
    const ref: RowRef = {
      tenantId,
      conversionId: session.conversionId,
      kind: kind === 'conversions' ? 'conversion' : 'adjustment',
    };
    let outcome = classifyAck(line.status, line.error);
    if (outcome.to === 'retry' && outcome.error === 'CONVERSION_NOT_FOUND') {
      // Every retry has an end: the row's attempts and the 54-day window decide.
      const row = await deps.store.getRow(ref);
      if (row) outcome = withRetryEnd(outcome, row, now);
    }
    const result = toRowResult(outcome, now);
    const applied = await deps.store.recordAck(ref, result, isoTime(deps.clock));
    if (applied) {
      updated += 1;
      countOutcome(result.to);
      if (updated === 1) failpoint(FP_ACK_AFTER_SOME);
    }
  }
  return { updated };
}
