/**
 * The ledger's items in the `ledger` table: the one `keys` object (the only place a key string of
 * this context is built or parsed), the stored items and the parsers from raw items. Nothing above
 * the adapter (`ledger-store.ts`) sees a raw item; the records themselves are `model.ts`'s.
 *
 * - `LQ#<tenant>#<queue> / U#<user>`: the member item (latest stay); a fence-only item (evidence
 *   for a user who never joined) has no `stayNo` and expires (`expiresAt`).
 * - `LQ#<tenant>#<queue> / S#<user>#<stayNo, 10 digits>`: a closed past stay.
 * - `LU#<tenant>#<user> / E#<type>#<evidenceId>`: evidence. While pending: `sweepPk`
 *   (`LEDGER#<shard>`) / `sweepAt` (received at), and `gsi1pk` (`LPE#<tenant>`) / `gsi1sk`.
 * - `LU#<tenant>#<user> / C#<type>#<queue>#<stayNo>`: a conversion; `gsi1pk` `LCV#<tenant>` /
 *   `gsi1sk` `<loggedAt>#<conversionId>` lists a tenant's conversions.
 */
import { type ItemReader, itemReader, withoutAbsent } from '../kernel/item-reader.js';
import type { Item } from '../kernel/put-once.js';
import { sha256Hex } from '../kernel/secrets.js';
import {
  type ClosedStay,
  CONVERSION_SOURCES,
  type ConversionItem,
  type EvidenceItem,
  type MemberItem,
} from './model.js';

/** A table key (a type, not an interface, so it is an `Item` where the kernel takes one). */
export type Key = { readonly pk: string; readonly sk: string };

/** Shards of the sweep index, so no schedule query reads one hot partition. */
export const SWEEP_SHARDS = 8;

/** What names one piece of evidence (and the sweep's reference to it). */
export interface PendingRef {
  readonly tenantId: string;
  readonly userId: string;
  readonly type: string;
  readonly evidenceId: string;
}

export function sweepShardOf(ref: PendingRef): number {
  const hex = sha256Hex(`${ref.tenantId}#${ref.userId}#${ref.type}#${ref.evidenceId}`).slice(0, 8);
  return Number.parseInt(hex, 16) % SWEEP_SHARDS;
}

const queuePk = (tenantId: string, queueType: string) => `LQ#${tenantId}#${queueType}`;
const userPk = (tenantId: string, userId: string) => `LU#${tenantId}#${userId}`;
const stayNumber = (stayNo: number) => String(stayNo).padStart(10, '0');

export const keys = {
  member: (tenantId: string, queueType: string, userId: string): Key => ({
    pk: queuePk(tenantId, queueType),
    sk: `U#${userId}`,
  }),
  /** The member items of a queue: its partition and their sort key prefix. */
  members: (tenantId: string, queueType: string) => ({
    pk: queuePk(tenantId, queueType),
    skPrefix: 'U#',
  }),
  stay: (tenantId: string, queueType: string, userId: string, stayNo: number): Key => ({
    pk: queuePk(tenantId, queueType),
    sk: `S#${userId}#${stayNumber(stayNo)}`,
  }),
  /** A member's closed stays: the queue's partition and their sort key prefix. */
  stays: (tenantId: string, queueType: string, userId: string) => ({
    pk: queuePk(tenantId, queueType),
    skPrefix: `S#${userId}#`,
  }),
  evidence: (ref: PendingRef): Key => ({
    pk: userPk(ref.tenantId, ref.userId),
    sk: `E#${ref.type}#${ref.evidenceId}`,
  }),
  /** A user's evidence of every type: its partition and their sort key prefix. */
  evidenceOfUser: (tenantId: string, userId: string) => ({
    pk: userPk(tenantId, userId),
    skPrefix: 'E#',
  }),
  /** A user's evidence of one type: its partition and their sort key prefix. */
  evidenceOfType: (tenantId: string, userId: string, type: string) => ({
    pk: userPk(tenantId, userId),
    skPrefix: `E#${type}#`,
  }),
  conversion: (
    tenantId: string,
    userId: string,
    type: string,
    queueType: string,
    stayNo: number,
  ): Key => ({
    pk: userPk(tenantId, userId),
    sk: `C#${type}#${queueType}#${stayNumber(stayNo)}`,
  }),
  /** A user's conversions (of one type, when given): their partition and sort key prefix. */
  conversionsOfUser: (tenantId: string, userId: string, type?: string) => ({
    pk: userPk(tenantId, userId),
    skPrefix: type !== undefined ? `C#${type}#` : 'C#',
  }),
  /** `sweep`: one shard of the pending evidence. */
  sweep: (shard: number) => `LEDGER#${shard}`,
  /** `gsi1`: a tenant's pending evidence, by time received. */
  pendingOfTenant: (tenantId: string) => `LPE#${tenantId}`,
  /** The `gsi1` sort key bound of everything received at or before `receivedBy`. */
  pendingThrough: (receivedBy: string) => `${receivedBy}#\uffff`,
  /** `gsi1`: a tenant's conversions, by time logged. */
  conversionsOfTenant: (tenantId: string) => `LCV#${tenantId}`,
};

// --- stored items ----------------------------------------------------------------------------------

/** A closed stay's record, copied when the next stay starts. */
export function stayItem(stay: ClosedStay): Item {
  return { ...keys.stay(stay.tenantId, stay.queueType, stay.userId, stay.stayNo), ...stay };
}

/** Evidence, with the sweep and `gsi1` keys while it is pending. */
export function evidenceItem(evidence: EvidenceItem): Item {
  return {
    ...keys.evidence(evidence),
    ...evidence,
    ...(evidence.state === 'pending'
      ? {
          sweepPk: keys.sweep(sweepShardOf(evidence)),
          sweepAt: evidence.receivedAt,
          gsi1pk: keys.pendingOfTenant(evidence.tenantId),
          gsi1sk: `${evidence.receivedAt}#${evidence.userId}#${evidence.type}#${evidence.evidenceId}`,
        }
      : {}),
  };
}

/** A conversion, listed on `gsi1` by the time it was logged. */
export function conversionItem(conversion: ConversionItem): Item {
  return {
    ...keys.conversion(
      conversion.tenantId,
      conversion.userId,
      conversion.type,
      conversion.queueType,
      conversion.stayNo,
    ),
    gsi1pk: keys.conversionsOfTenant(conversion.tenantId),
    gsi1sk: `${conversion.loggedAt}#${conversion.conversionId}`,
    ...conversion,
  };
}

// --- parsers ---------------------------------------------------------------------------------------

const STAY_STATUSES: readonly MemberItem['status'][] = ['in', 'out'];
const EVIDENCE_STATES: readonly EvidenceItem['state'][] = ['pending', 'applied'];

/** What a member item and a closed stay's record both hold: the stay and whose it is. */
function stayOf(item: ItemReader) {
  return {
    tenantId: item.string('tenantId'),
    queueType: item.string('queueType'),
    userId: item.string('userId'),
    eventType: item.string('eventType'),
    stayNo: item.number('stayNo'),
    stayId: item.string('stayId'),
    joinedAt: item.string('joinedAt'),
  };
}

/** The member a member item holds, or undefined for a fence-only item (no stay yet). */
export function toMember(raw: Item): MemberItem | undefined {
  if (raw.stayNo === undefined) return undefined;
  const item = itemReader(raw, 'ledger member');
  return {
    ...stayOf(item),
    status: item.oneOf('status', STAY_STATUSES),
    ...withoutAbsent({
      leftAt: item.optionalString('leftAt'),
      leftReason: item.optionalString('leftReason'),
      leftBy: item.optionalString('leftBy'),
      noStayThrough: item.optionalString('noStayThrough'),
    }),
  };
}

/** The time a fence-only member item says no stay may start at or before. */
export function noStayThroughOf(raw: Item): string | undefined {
  return itemReader(raw, 'ledger member').optionalString('noStayThrough');
}

export function toClosedStay(raw: Item): ClosedStay {
  const item = itemReader(raw, 'ledger stay');
  return {
    ...stayOf(item),
    leftAt: item.string('leftAt'),
    ...withoutAbsent({
      leftReason: item.optionalString('leftReason'),
      leftBy: item.optionalString('leftBy'),
    }),
  };
}

export function toEvidence(raw: Item): EvidenceItem {
  const item = itemReader(raw, 'ledger evidence');
  const appliedBy = item.optionalString('appliedBy');
  return {
    ...refOf(item),
    occurredAt: item.string('occurredAt'),
    effectiveAt: item.string('effectiveAt'),
    receivedAt: item.string('receivedAt'),
    state: item.oneOf('state', EVIDENCE_STATES),
    ...withoutAbsent({
      eventId: item.optionalString('eventId'),
      appliedAt: item.optionalString('appliedAt'),
      appliedBy: appliedBy === undefined ? undefined : item.oneOf('appliedBy', CONVERSION_SOURCES),
    }),
  };
}

export function toConversion(raw: Item): ConversionItem {
  const item = itemReader(raw, 'ledger conversion');
  return {
    conversionId: item.string('conversionId'),
    tenantId: item.string('tenantId'),
    userId: item.string('userId'),
    type: item.string('type'),
    queueType: item.string('queueType'),
    stayId: item.string('stayId'),
    stayNo: item.number('stayNo'),
    source: item.oneOf('source', CONVERSION_SOURCES),
    occurredAt: item.string('occurredAt'),
    loggedAt: item.string('loggedAt'),
    evidenceId: item.string('evidenceId'),
  };
}

function refOf(item: ItemReader): PendingRef {
  return {
    tenantId: item.string('tenantId'),
    userId: item.string('userId'),
    type: item.string('type'),
    evidenceId: item.string('evidenceId'),
  };
}

/** The reference to pending evidence a sweep or `gsi1` entry holds. */
export function toPendingRef(raw: Item): PendingRef {
  return refOf(itemReader(raw, 'ledger evidence'));
}
