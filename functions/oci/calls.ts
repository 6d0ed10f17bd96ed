/**
 * Calls and seals. A call is idempotent by callId. A seal creates the session's one conversion in
 * the same conditional transaction as the session's uniqueness item, so sealing every call of a
 * session concurrently yields one conversion and every seal answers with it.
 */
import { randomUUID } from 'node:crypto';
import { type Clock, isoTime } from '../kernel/clock.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../kernel/errors.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric } from '../kernel/telemetry.js';
import { OciMetric } from './metrics.js';
import {
  type Call,
  type ClickKind,
  type Conversion,
  conversionDueAt,
  type GoogleAdsSettings,
  orderIdFor,
  type RowStatus,
} from './model.js';
import type { OciStore } from './oci-store.js';

export const FP_SEAL_AFTER_CREATE = defineFailpoint(
  'oci.seal.after-create',
  'after the conversion and its session item were written, before the seal answers',
);

export interface CallInput {
  readonly callId: string;
  readonly sessionId: string;
  readonly clickKind: ClickKind;
  readonly clickId: string;
  readonly occurredAt: string;
}

export interface SealInput {
  readonly conversionName?: string;
  readonly value: number;
  readonly currency: string;
  readonly conversionTime: string;
}

export interface OciContext {
  readonly store: OciStore;
  readonly clock: Clock;
  /** The tenant's Google Ads settings, or undefined when it has none. */
  readonly googleAds: (tenantId: string) => Promise<GoogleAdsSettings | undefined>;
}

/**
 * How far in the future a click or conversion time may be: the sender's clock may run a little
 * ahead of ours. Further is not a real event: Google refuses a conversion time in the future
 * (AdWords API `OfflineConversionFeed.conversionTime`: "A time in the future is not allowed"), and a
 * click in year 9999 would be due at once (`+010000-…` sorts before every four-digit year).
 */
const FUTURE_SKEW_MS = 10 * 60_000;

function notInFuture(field: string, iso: string, now: number): void {
  if (Date.parse(iso) > now + FUTURE_SKEW_MS) {
    throw new InvalidRequestError(`The ${field} is in the future.`, [
      { field, message: 'must not be later than now (10 minutes of clock skew allowed)' },
    ]);
  }
}

export async function recordCall(
  ctx: Pick<OciContext, 'store' | 'clock'>,
  tenantId: string,
  input: CallInput,
): Promise<{ created: boolean; call: Call }> {
  notInFuture('occurredAt', input.occurredAt, ctx.clock.now());
  const call: Call = {
    tenantId,
    callId: input.callId,
    sessionId: input.sessionId,
    clickKind: input.clickKind,
    clickId: input.clickId,
    source: 'click',
    occurredAt: new Date(input.occurredAt).toISOString(),
    createdAt: isoTime(ctx.clock),
  };
  const result = await ctx.store.createCall(call);
  if (result.created) return { created: true, call };
  const existing = result.existing;
  const same =
    existing.sessionId === call.sessionId &&
    existing.clickKind === call.clickKind &&
    existing.clickId === call.clickId &&
    existing.occurredAt === call.occurredAt;
  if (!same) {
    throw new ConflictError(`Call ${input.callId} already exists with a different body.`);
  }
  return { created: false, call: existing };
}

export interface SealAnswer {
  readonly enqueued: boolean;
  /**
   * Why nothing was enqueued: the session already has a conversion from another call, or its one
   * conversion was withdrawn (retracted before Google counted it) or refused by Google.
   */
  readonly reason?: 'duplicate_session' | 'withdrawn' | 'failed';
  readonly conversionId: string;
  readonly orderId: string;
  /** The session's conversion as it stands now. */
  readonly status: RowStatus;
}

const RESOURCE_NAME = /^customers\/\d{10}\/conversionActions\/\d+$/;

export async function sealCall(
  ctx: OciContext,
  tenantId: string,
  callId: string,
  input: SealInput,
): Promise<SealAnswer> {
  const call = await ctx.store.getCall(tenantId, callId);
  if (!call) throw new NotFoundError(`Call ${callId} does not exist.`);
  const settings = await ctx.googleAds(tenantId);
  if (!settings) {
    throw new ConflictError('This tenant has no googleAds configuration.');
  }
  const conversionTime = new Date(input.conversionTime).toISOString();
  if (conversionTime < call.occurredAt) {
    throw new InvalidRequestError('The conversion time is before the click.', [
      { field: 'conversionTime', message: 'must not be before the call occurredAt' },
    ]);
  }
  notInFuture('conversionTime', conversionTime, ctx.clock.now());
  const { conversionAction, conversionName } = actionFor(settings, input.conversionName);
  const now = isoTime(ctx.clock);
  const conversion: Conversion = {
    kind: 'conversion',
    tenantId,
    conversionId: `cv_${randomUUID().replaceAll('-', '')}`,
    orderId: orderIdFor(tenantId, call.sessionId),
    sessionId: call.sessionId,
    callId,
    clickKind: call.clickKind,
    clickId: call.clickId,
    conversionName,
    conversionAction,
    conversionTime,
    value: input.value,
    currency: input.currency,
    customerId: settings.customerId,
    uploadMode: settings.uploadMode,
    status: 'queued',
    attempts: 0,
    createdAt: now,
    notBefore: conversionDueAt(call.occurredAt, ctx.clock.now()),
  };
  const result = await ctx.store.createConversion(conversion);
  if (result.created) {
    countMetric(OciMetric.Sealed);
    failpoint(FP_SEAL_AFTER_CREATE);
    return {
      enqueued: true,
      conversionId: conversion.conversionId,
      orderId: conversion.orderId,
      status: conversion.status,
    };
  }
  const existing = result.existing;
  const row = await ctx.store.getRow({
    tenantId,
    conversionId: existing.conversionId,
    kind: 'conversion',
  });
  // The item exists (the session item names it, written in the same transaction).
  const status = row?.status ?? 'queued';
  const ids = { conversionId: existing.conversionId, orderId: existing.orderId, status };
  if (status === 'withdrawn' || status === 'failed') {
    // The session's one conversion will never be counted: say so, whoever seals again.
    return { enqueued: false, reason: status, ...ids };
  }
  // The retry of the seal that created it gets the first answer again.
  if (existing.callId === callId) return { enqueued: true, ...ids };
  countMetric(OciMetric.DuplicateSeal);
  return { enqueued: false, reason: 'duplicate_session', ...ids };
}

/**
 * The conversion action as each upload path names it: the API by its resource name, Google's CSV
 * import ("Conversion Name", https://support.google.com/google-ads/answer/7014069) by the name the
 * account shows. A seal may name another action: by resource name in api mode, by name in script
 * mode.
 */
function actionFor(
  settings: GoogleAdsSettings,
  sealName: string | undefined,
): { conversionAction: string; conversionName: string } {
  if (settings.uploadMode === 'api') {
    if (sealName !== undefined && !RESOURCE_NAME.test(sealName)) {
      throw new InvalidRequestError(
        'In api mode the conversion name must be a conversion action.',
        [{ field: 'conversionName', message: 'must be customers/<id>/conversionActions/<id>' }],
      );
    }
    const action = sealName ?? settings.conversionAction;
    return { conversionAction: action, conversionName: settings.conversionName ?? action };
  }
  if (sealName !== undefined && RESOURCE_NAME.test(sealName)) {
    throw new InvalidRequestError(
      "In script mode the conversion name is the action's name as the account shows it.",
      [{ field: 'conversionName', message: 'must be the display name, not a resource name' }],
    );
  }
  const name = sealName ?? settings.conversionName;
  if (!name) {
    throw new ConflictError(
      'Script mode needs googleAds.conversionName in the tenant configuration (the name Google Ads shows for the conversion action).',
    );
  }
  return { conversionAction: settings.conversionAction, conversionName: name };
}
