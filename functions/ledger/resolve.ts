/**
 * Applying evidence: the one routine every path that can notice a conversion runs (the event
 * itself, pre-call validation, the cleanup sweep, the reconciliation), differing only in the
 * `source` it records.
 *
 * For each queue type waiting for the evidence's event type, it finds the stay that holds the
 * evidence time. A stay still open is first closed (the user leaves because of the evidence; the
 * close is guarded on the stay number, and sets `leftAt` no earlier than the evidence time), so a
 * conversion is only ever decided on a closed stay, whose interval never changes again. Then the
 * conversion item is created with `attribute_not_exists`: whoever gets there first logs it, every
 * other path finds it there. Last, the evidence is marked applied, which drops it from the sweep
 * index; when no stay held it, that write also checks the member's stays did not move since they
 * were read (a join racing with the evidence), else it starts over.
 *
 * A crash anywhere leaves the evidence pending in the sweep index, so the cleanup sweep and the
 * reconciliation finish the work; repeating any step is harmless.
 */
import { type Clock, isoTime } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { conversionLogged } from './ledger-metrics.js';
import type { LedgerStore, MemberGuard } from './ledger-store.js';
import {
  type ClosedStay,
  type ConversionItem,
  type ConversionSource,
  conversionIdOf,
  type EvidenceItem,
  laterOf,
  type MemberItem,
  stayHolds,
} from './model.js';

export interface ResolveDeps {
  readonly store: LedgerStore;
  readonly clock: Clock;
  /** The tenant's queue types whose stays wait for this event type. */
  readonly queuesWaitingFor: (tenantId: string, eventType: string) => Promise<readonly string[]>;
}

const afterLeave = Object.fromEntries(
  (['event', 'pre_call_validation', 'cleanup', 'reconciliation'] as const).map((source) => [
    source,
    defineFailpoint(
      `ledger.${source}.after-leave`,
      `${source}: the stay was closed because of the evidence, its conversion not yet logged`,
    ),
  ]),
) as Record<ConversionSource, string>;

const afterConversion = Object.fromEntries(
  (['event', 'pre_call_validation', 'cleanup', 'reconciliation'] as const).map((source) => [
    source,
    defineFailpoint(
      `ledger.${source}.after-conversion`,
      `${source}: the conversion was logged, the evidence not yet marked applied`,
    ),
  ]),
) as Record<ConversionSource, string>;

export const LEDGER_FAILPOINTS = {
  afterLeave,
  afterConversion,
};

export interface ResolveOutcome {
  /** Conversions this call created (not those another path had created first). */
  readonly logged: readonly ConversionItem[];
  /** Queue types whose stay this call closed. */
  readonly closed: readonly string[];
  /** Conversions owed by this evidence, whoever logged them. */
  readonly owed: number;
}

type StayLookup =
  | { readonly kind: 'stay'; readonly stay: ClosedStay; readonly closedNow: boolean }
  | { readonly kind: 'none'; readonly guard?: MemberGuard };

function closedStayOf(member: MemberItem, leftAt: string): ClosedStay {
  return {
    tenantId: member.tenantId,
    queueType: member.queueType,
    userId: member.userId,
    eventType: member.eventType,
    stayNo: member.stayNo,
    stayId: member.stayId,
    joinedAt: member.joinedAt,
    leftAt,
  };
}

async function pastStayHolding(
  store: LedgerStore,
  evidence: EvidenceItem,
  queueType: string,
): Promise<StayLookup> {
  const stays = await store.pastStays(evidence.tenantId, queueType, evidence.userId);
  const stay = stays.find(
    (s) => s.eventType === evidence.type && stayHolds(s, evidence.effectiveAt),
  );
  return stay ? { kind: 'stay', stay, closedNow: false } : { kind: 'none' };
}

/**
 * The stay of `queueType` that holds the evidence time, closing it first when it is still open
 * (unless `dryRun`, which only reports what would happen).
 */
export async function findStay(
  deps: ResolveDeps,
  evidence: EvidenceItem,
  queueType: string,
  source: ConversionSource,
  dryRun = false,
): Promise<StayLookup> {
  const at = evidence.effectiveAt;
  for (let attempt = 0; attempt < 10; attempt++) {
    const member = await deps.store.getMember(evidence.tenantId, queueType, evidence.userId);
    if (!member) return { kind: 'none', guard: { queueType, stayNo: 0 } };
    if (member.status === 'in') {
      // Joined after the evidence: only a past stay can hold it (and past stays never change).
      if (member.joinedAt > at) return pastStayHolding(deps.store, evidence, queueType);
      if (member.eventType !== evidence.type) return { kind: 'none' };
      const leftAt = laterOf(isoTime(deps.clock), at);
      if (dryRun) return { kind: 'stay', stay: closedStayOf(member, leftAt), closedNow: false };
      const closed = await deps.store.closeStay(member, {
        leftAt,
        leftReason: 'converted',
        leftBy: source,
      });
      if (!closed) continue; // it moved under us (left, or a new stay): read it again
      failpoint(afterLeave[source]);
      return { kind: 'stay', stay: closedStayOf(member, leftAt), closedNow: true };
    }
    const leftAt = member.leftAt ?? member.joinedAt;
    if (member.joinedAt <= at && at <= leftAt) {
      if (member.eventType !== evidence.type) return { kind: 'none' };
      return { kind: 'stay', stay: closedStayOf(member, leftAt), closedNow: false };
    }
    // Left before the evidence: no stay holds it, unless the user joins again with a clock behind
    // ours. The guard makes marking the evidence applied fail if a stay started meanwhile.
    if (at > leftAt) return { kind: 'none', guard: { queueType, stayNo: member.stayNo } };
    return pastStayHolding(deps.store, evidence, queueType);
  }
  throw new Error(`the stay of ${queueType} kept changing; the evidence stays pending`);
}

export function conversionFor(
  evidence: EvidenceItem,
  stay: ClosedStay,
  source: ConversionSource,
  loggedAt: string,
): ConversionItem {
  return {
    conversionId: conversionIdOf(
      evidence.tenantId,
      evidence.userId,
      evidence.type,
      stay.queueType,
      stay.stayNo,
    ),
    tenantId: evidence.tenantId,
    userId: evidence.userId,
    type: evidence.type,
    queueType: stay.queueType,
    stayId: stay.stayId,
    stayNo: stay.stayNo,
    source,
    occurredAt: evidence.occurredAt,
    loggedAt,
    evidenceId: evidence.evidenceId,
  };
}

/** Applies one piece of evidence: closes the stay that holds it, logs its conversion, marks it. */
export async function resolveEvidence(
  deps: ResolveDeps,
  evidence: EvidenceItem,
  source: ConversionSource,
): Promise<ResolveOutcome> {
  const queues = await deps.queuesWaitingFor(evidence.tenantId, evidence.type);
  const logged: ConversionItem[] = [];
  const closed: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const guards: MemberGuard[] = [];
    let owed = 0;
    for (const queueType of queues) {
      const found = await findStay(deps, evidence, queueType, source);
      if (found.kind === 'none') {
        if (found.guard) guards.push(found.guard);
        continue;
      }
      owed += 1;
      if (found.closedNow) closed.push(queueType);
      const conversion = conversionFor(evidence, found.stay, source, isoTime(deps.clock));
      const put = await deps.store.putConversion(conversion);
      if (put.created) {
        logged.push(conversion);
        conversionLogged(source, conversion.type);
        failpoint(afterConversion[source]);
      }
    }
    const marked = await deps.store.markEvidenceApplied(
      evidence,
      isoTime(deps.clock),
      source,
      guards,
    );
    if (marked !== 'member_changed') return { logged, closed, owed };
  }
  throw new Error('the member kept changing while the evidence was applied; it stays pending');
}
