/**
 * Retractions. A conversion Google never counted is withdrawn: one never claimed (`queued`), or one
 * waiting in `retry` after Google said row by row that it did not count it (`TOO_RECENT_EVENT`...,
 * API mode: `knownUncounted`);
 * one conditional write racing the claim, exactly one wins. One that may have reached Google (it
 * was counted, handed to a script's bulk upload, or its upload's outcome is unknown) gets one
 * retraction row (created with `attribute_not_exists`, so a second request finds it) and is never
 * uploaded again (the claim refuses a conversion with a retraction requested); the retraction is
 * uploaded or exported like a conversion once the conversion is 24 hours old. One Google refused
 * (`failed`) was never counted: it is only marked.
 */
import type { Clock } from '../kernel/clock.js';
import { isoTime } from '../kernel/clock.js';
import { ConflictError, NotFoundError } from '../kernel/errors.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric } from '../kernel/telemetry.js';
import { OciMetric } from './metrics.js';
import {
  ADJUSTMENT_MAX_AGE_MS,
  ADJUSTMENT_MIN_AGE_MS,
  type Adjustment,
  type Conversion,
  knownUncounted,
} from './model.js';
import type { OciStore } from './oci-store.js';

export const FP_RETRACT_AFTER_CREATE = defineFailpoint(
  'oci.retract.after-create',
  'after the retraction row (or the withdrawal) was written, before the request answers',
);

export interface RetractAnswer {
  readonly conversionId: string;
  readonly orderId: string;
  /** `withdrawn`: never uploaded; `queued`/...: the retraction row's state. */
  readonly retraction: string;
  readonly error?: string;
}

export async function retractConversion(
  deps: { readonly store: OciStore; readonly clock: Clock },
  tenantId: string,
  conversionId: string,
): Promise<RetractAnswer> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const conversion = (await deps.store.getRow({ tenantId, conversionId, kind: 'conversion' })) as
      | Conversion
      | undefined;
    if (!conversion) throw new NotFoundError(`Conversion ${conversionId} does not exist.`);
    const base = { conversionId, orderId: conversion.orderId };
    const existing = await deps.store.getRow({ tenantId, conversionId, kind: 'adjustment' });
    if (existing) {
      return {
        ...base,
        retraction: existing.status,
        ...(existing.lastError ? { error: existing.lastError } : {}),
      };
    }
    const nowIso = isoTime(deps.clock);
    if (conversion.status === 'withdrawn') return { ...base, retraction: 'withdrawn' };
    const uncounted = conversion.status === 'queued' || knownUncounted(conversion);
    if (uncounted) {
      if (await deps.store.withdraw(conversion, nowIso)) {
        countMetric(OciMetric.Withdrawn);
        failpoint(FP_RETRACT_AFTER_CREATE);
        return { ...base, retraction: 'withdrawn' };
      }
      continue; // claimed meanwhile: read again
    }
    if (conversion.status === 'failed') {
      await deps.store.markRetracted(conversion, nowIso);
      return { ...base, retraction: 'withdrawn' };
    }
    const conversionAt = Date.parse(conversion.conversionTime);
    const expired = deps.clock.now() > conversionAt + ADJUSTMENT_MAX_AGE_MS;
    const adjustment: Adjustment = {
      kind: 'adjustment',
      tenantId,
      conversionId,
      orderId: conversion.orderId,
      conversionName: conversion.conversionName,
      ...(conversion.conversionAction ? { conversionAction: conversion.conversionAction } : {}),
      customerId: conversion.customerId,
      uploadMode: conversion.uploadMode,
      adjustmentType: 'RETRACTION',
      adjustmentTime: nowIso,
      conversionTime: conversion.conversionTime,
      // Google refuses a retraction of a conversion over 54 days old: report it, send nothing.
      status: expired ? 'failed' : 'queued',
      ...(expired ? { lastError: 'CONVERSION_EXPIRED' } : {}),
      attempts: 0,
      createdAt: nowIso,
      // ... and one under 24 hours old (TOO_RECENT_CONVERSION): wait until it is not.
      notBefore: new Date(
        Math.max(deps.clock.now(), conversionAt + ADJUSTMENT_MIN_AGE_MS),
      ).toISOString(),
    };
    const created = await deps.store.createRetraction(adjustment);
    if (created === 'conversion_changed') continue;
    if (created === 'created') {
      countMetric(OciMetric.RetractionRequested);
      failpoint(FP_RETRACT_AFTER_CREATE);
    }
    const row = await deps.store.getRow({ tenantId, conversionId, kind: 'adjustment' });
    return {
      ...base,
      retraction: row?.status ?? adjustment.status,
      ...(row?.lastError ? { error: row.lastError } : {}),
    };
  }
  throw new ConflictError('The conversion is changing concurrently; retry.');
}
