/**
 * The conversion ledger's items and identities.
 *
 * - A **member** item per (tenant, queue type, user) holds the user's latest stay in that queue:
 *   its number (`stayNo`, bumped by the conditional write that starts a stay), `stayId` (derived
 *   from tenant, queue, user and number, so a retried join names the same stay), `joinedAt`, and
 *   once it ended `leftAt`. A stay's interval never changes after `leftAt` is written.
 * - A **stay record** per past stay: the closed interval, copied in the same transaction that
 *   starts the next stay, so late evidence can still be matched to the stay it happened in.
 * - An **evidence** item per (tenant, user, event type, event id): idempotent by `eventId`, or by an
 *   id derived from user, type and `occurredAt` when the client gives none. While not yet applied it
 *   carries the sparse sweep keys the cleanup and reconciliation schedules query.
 * - A **conversion** item per (tenant, user, event type, queue type, stay number), created with
 *   `attribute_not_exists`: the one durable effect, whoever gets there first.
 */
import { sha256Hex } from '../kernel/secrets.js';

export type ConversionSource = 'event' | 'pre_call_validation' | 'cleanup' | 'reconciliation';
export const CONVERSION_SOURCES: readonly ConversionSource[] = [
  'event',
  'pre_call_validation',
  'cleanup',
  'reconciliation',
];

/** Queue types every tenant has, and the event type each waits for (api.md). */
export const BUILT_IN_WORK_QUEUES: Readonly<Record<string, string>> = {
  unsigned_users: 'signature_obtained',
  outstanding_requirements: 'requirements_completed',
};

/**
 * User ids, queue types, event types and event ids: 1–256 characters (api.md), from a set that
 * holds no key separator (`#`), so a key can never be read two ways.
 */
export const LEDGER_ID = /^[A-Za-z0-9_.:@+=~-]{1,256}$/;
export const LEDGER_ID_RULE = 'must be 1-256 letters, digits, _ . : @ + = ~ -';

export interface MemberItem {
  readonly tenantId: string;
  readonly queueType: string;
  readonly userId: string;
  /** The event type this stay waits for (fixed at join, whatever the tenant changes later). */
  readonly eventType: string;
  readonly stayNo: number;
  readonly stayId: string;
  readonly status: 'in' | 'out';
  readonly joinedAt: string;
  readonly leftAt?: string;
  readonly leftReason?: string;
  /** `removal` for a DELETE, else the conversion source that closed the stay. */
  readonly leftBy?: string;
  /**
   * The latest evidence time decided to fall in no stay of this member (the evidence was applied
   * without a conversion). No later stay may start at or before it: the join's write is guarded on
   * it, so a join whose write lands after that decision cannot open a stay holding the evidence.
   */
  readonly noStayThrough?: string;
}

/** A stay that has ended: a member's fields without its status, with when it was left. */
export interface ClosedStay extends Omit<MemberItem, 'status' | 'leftAt' | 'noStayThrough'> {
  readonly leftAt: string;
}

export interface EvidenceItem {
  readonly tenantId: string;
  readonly userId: string;
  readonly type: string;
  /** `eventId` when the client gave one, else derived from user, type and occurredAt. */
  readonly evidenceId: string;
  readonly eventId?: string;
  readonly occurredAt: string;
  /**
   * The time matched against stays: `occurredAt`, but never later than when it was received, so
   * evidence dated in the future cannot outlive the stay that is closed because of it.
   */
  readonly effectiveAt: string;
  readonly receivedAt: string;
  readonly state: 'pending' | 'applied';
  readonly appliedAt?: string;
  readonly appliedBy?: ConversionSource;
}

export interface ConversionItem {
  readonly conversionId: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly type: string;
  readonly queueType: string;
  readonly stayId: string;
  readonly stayNo: number;
  readonly source: ConversionSource;
  readonly occurredAt: string;
  readonly loggedAt: string;
  readonly evidenceId: string;
}

function digest(...parts: Array<string | number>): string {
  return sha256Hex(parts.map(String).join('\u0000'));
}

export function stayIdOf(tenantId: string, queueType: string, userId: string, stayNo: number) {
  return `st_${digest('stay', tenantId, queueType, userId, stayNo).slice(0, 24)}`;
}

export function conversionIdOf(
  tenantId: string,
  userId: string,
  type: string,
  queueType: string,
  stayNo: number,
) {
  return `cv_${digest('conversion', tenantId, userId, type, queueType, stayNo).slice(0, 24)}`;
}

/** The evidence id: the client's eventId, else derived from what identifies the event. */
export function evidenceIdOf(userId: string, type: string, occurredAt: string, eventId?: string) {
  return eventId !== undefined
    ? `e:${eventId}`
    : `d:${digest('evidence', userId, type, occurredAt).slice(0, 32)}`;
}

export function laterOf(a: string, b: string): string {
  return a >= b ? a : b;
}

export function earlierOf(a: string, b: string): string {
  return a <= b ? a : b;
}

/** Does this (closed) stay hold the evidence time? Intervals are inclusive at both ends. */
export function stayHolds(stay: { joinedAt: string; leftAt: string }, at: string): boolean {
  return stay.joinedAt <= at && at <= stay.leftAt;
}
