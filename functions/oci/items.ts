/**
 * The OCI context's items in the `conversions` table: the one `keys` object (the only place a key
 * string of this context is built or parsed), the stored items and the parsers from raw items.
 * Nothing above the adapter (`oci-store.ts`) sees a raw item.
 *
 * - `TENANT#<t>#CALL#<callId> / CALL`: a call (idempotent by callId).
 * - `TENANT#<t>#ORDER#<orderId> / SESSION`: the per-session uniqueness item (orderId is a hash of
 *   tenant + session), written in the same transaction as the conversion it names.
 * - `TENANT#<t>#CONV#<conversionId> / CONV`: the conversion row; `/ RETRACT`: its retraction row.
 *   Listing: `gsi1pk = TENANT#<t>#OCI`, `gsi1sk = createdAt#conversionId`.
 *   Sparse `sweep` index, only while a schedule or an export has something to do with the row:
 *   pending rows under their `pendingPk` (`OCI#EXPORT#<t>#<kind>` for the script,
 *   `OCI#UPLOAD#<kind>#<shard>` for the API uploader) at `notBefore`; claimed rows under
 *   `OCI#LEASED#<shard>` at their lease expiry; terminal rows carry no sweep key.
 */
import { createHash } from 'node:crypto';
import { itemReader, withoutAbsent } from '../kernel/item-reader.js';
import type { Item } from '../kernel/put-once.js';
import type {
  Adjustment,
  Call,
  ClickKind,
  Conversion,
  OciRow,
  RowKind,
  RowStatus,
  SessionClaim,
  UploadMode,
} from './model.js';

/** A table key (a type, not an interface, so it is an `Item` where the kernel takes one). */
export type Key = { readonly pk: string; readonly sk: string };

const SHARDS = 4;

function shardOf(id: string): number {
  return createHash('sha256').update(id).digest().readUInt8(0) % SHARDS;
}

export const keys = {
  call: (tenantId: string, callId: string): Key => ({
    pk: `TENANT#${tenantId}#CALL#${callId}`,
    sk: 'CALL',
  }),
  session: (tenantId: string, orderId: string): Key => ({
    pk: `TENANT#${tenantId}#ORDER#${orderId}`,
    sk: 'SESSION',
  }),
  row: (tenantId: string, conversionId: string, kind: RowKind): Key => ({
    pk: `TENANT#${tenantId}#CONV#${conversionId}`,
    sk: kind === 'conversion' ? 'CONV' : 'RETRACT',
  }),
  listing: (tenantId: string) => `TENANT#${tenantId}#OCI`,
  /** `gsi1` sort key of the listing: newest first by creation, unique per conversion. */
  listingSort: (createdAt: string, conversionId: string) => `${createdAt}#${conversionId}`,
  pending(mode: UploadMode, tenantId: string, kind: RowKind, conversionId: string): string {
    return mode === 'script'
      ? `OCI#EXPORT#${tenantId}#${kind}`
      : `OCI#UPLOAD#${kind}#${shardOf(conversionId)}`;
  },
  uploadShards: (kind: RowKind) =>
    Array.from({ length: SHARDS }, (_, i) => `OCI#UPLOAD#${kind}#${i}`),
  leased: (conversionId: string) => `OCI#LEASED#${shardOf(conversionId)}`,
  leasedShards: () => Array.from({ length: SHARDS }, (_, i) => `OCI#LEASED#${i}`),
};

const ROW_KINDS: readonly RowKind[] = ['conversion', 'adjustment'];
export const ROW_STATUSES = [
  'queued',
  'processing',
  'retry',
  'completed',
  'failed',
  'withdrawn',
  'uploaded',
] as const satisfies readonly RowStatus[];
const CLICK_KINDS: readonly ClickKind[] = ['gclid', 'gbraid', 'wbraid'];
const UPLOAD_MODES: readonly UploadMode[] = ['script', 'api'];

/** The stored call item. */
export function callItem(call: Call): Item {
  return { ...keys.call(call.tenantId, call.callId), ...call };
}

export function toCall(raw: Item): Call {
  const item = itemReader(raw, 'OCI call');
  return {
    tenantId: item.string('tenantId'),
    callId: item.string('callId'),
    sessionId: item.string('sessionId'),
    clickKind: item.oneOf('clickKind', CLICK_KINDS),
    clickId: item.string('clickId'),
    source: item.oneOf('source', ['click'] as const),
    occurredAt: item.string('occurredAt'),
    createdAt: item.string('createdAt'),
  };
}

/** The stored session item: the session's one conversion (created with it). */
export function sessionItem(session: SessionClaim, createdAt: string): Item {
  return { ...keys.session(session.tenantId, session.orderId), ...session, createdAt };
}

export function toSession(raw: Item): SessionClaim {
  const item = itemReader(raw, 'OCI session');
  return {
    tenantId: item.string('tenantId'),
    sessionId: item.string('sessionId'),
    orderId: item.string('orderId'),
    conversionId: item.string('conversionId'),
    callId: item.string('callId'),
  };
}

/**
 * A row's place in its pending sweep: under `pendingPk`, due at `notBefore`; a row created
 * `failed` keeps its `pendingPk` but waits in no sweep.
 */
function pendingItem(row: OciRow): Item {
  const pendingPk = keys.pending(row.uploadMode, row.tenantId, row.kind, row.conversionId);
  return row.status === 'failed'
    ? { pendingPk }
    : { pendingPk, sweepPk: pendingPk, sweepAt: row.notBefore };
}

/** The stored conversion row: listed on `gsi1`, pending in the sweep. */
export function conversionItem(conversion: Conversion): Item {
  return {
    ...keys.row(conversion.tenantId, conversion.conversionId, 'conversion'),
    ...conversion,
    gsi1pk: keys.listing(conversion.tenantId),
    gsi1sk: keys.listingSort(conversion.createdAt, conversion.conversionId),
    ...pendingItem(conversion),
  };
}

/** The stored retraction row: pending in the sweep (unless refused at once), not listed. */
export function adjustmentItem(adjustment: Adjustment): Item {
  return {
    ...keys.row(adjustment.tenantId, adjustment.conversionId, 'adjustment'),
    ...adjustment,
    ...pendingItem(adjustment),
  };
}

/** A conversion or retraction row (from the table, a failed condition's item or `gsi1`). */
export function toRow(raw: Item): OciRow {
  const kind = itemReader(raw, 'OCI row').oneOf('kind', ROW_KINDS);
  const item = itemReader(raw, kind === 'conversion' ? 'OCI conversion' : 'OCI retraction');
  const base = {
    tenantId: item.string('tenantId'),
    conversionId: item.string('conversionId'),
    orderId: item.string('orderId'),
    conversionName: item.string('conversionName'),
    customerId: item.string('customerId'),
    uploadMode: item.oneOf('uploadMode', UPLOAD_MODES),
    status: item.oneOf('status', ROW_STATUSES),
    attempts: item.number('attempts'),
    createdAt: item.string('createdAt'),
    notBefore: item.string('notBefore'),
    conversionTime: item.string('conversionTime'),
    ...withoutAbsent({
      conversionAction: item.optionalString('conversionAction'),
      claimId: item.optionalString('claimId'),
      claimedAt: item.optionalString('claimedAt'),
      leaseExpiresAt: item.optionalNumber('leaseExpiresAt'),
      lastError: item.optionalString('lastError'),
      jobId: item.optionalString('jobId'),
      completedAt: item.optionalString('completedAt'),
    }),
  };
  if (kind === 'adjustment') {
    return {
      ...base,
      kind,
      adjustmentType: item.oneOf('adjustmentType', ['RETRACTION'] as const),
      adjustmentTime: item.string('adjustmentTime'),
    };
  }
  return {
    ...base,
    kind,
    sessionId: item.string('sessionId'),
    callId: item.string('callId'),
    clickKind: item.oneOf('clickKind', CLICK_KINDS),
    clickId: item.string('clickId'),
    value: item.number('value'),
    currency: item.string('currency'),
    ...withoutAbsent({
      retractRequestedAt: item.optionalString('retractRequestedAt'),
      retractedAt: item.optionalString('retractedAt'),
      countedUnder:
        item.optionalString('countedUnder') === 'click' ? ('click' as const) : undefined,
    }),
  };
}

/** A row the sweep index proposes: its reference and the customer its upload goes to. */
export function toCandidate(raw: Item): {
  tenantId: string;
  conversionId: string;
  kind: RowKind;
  customerId: string;
} {
  const item = itemReader(raw, 'OCI sweep entry');
  return {
    tenantId: item.string('tenantId'),
    conversionId: item.string('conversionId'),
    kind: item.oneOf('kind', ROW_KINDS),
    customerId: item.string('customerId'),
  };
}
