/**
 * The two schedules and the dry run, all reading the sparse sweep index of evidence not yet
 * applied (never a scan):
 * - the cleanup sweep applies every pending evidence (`source: cleanup`): the users who no longer
 *   belong in a queue are exactly those whose evidence is pending;
 * - the reconciliation applies evidence still pending after the reconciliation window
 *   (`source: reconciliation`, each conversion it logs counted in `ConversionsReconciled`);
 * - `GET /v1/conversions/missing` reports what the reconciliation would log now, writing nothing.
 *
 * The index only says where to look: each item is read again from the table (strongly) before it
 * is applied, and the conversion's existence is decided by its conditional put, so a stale index
 * can delay a conversion, never double or lose one.
 */
import { type Clock, isoTime } from '../kernel/clock.js';
import { defineFailpoint, FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import { logger, reportUnreadable } from '../kernel/telemetry.js';
import { type LedgerStore, type PendingRef, SWEEP_SHARDS } from './ledger-store.js';
import type { ConversionSource } from './model.js';
import { conversionFor, findStay, type ResolveDeps, resolveEvidence } from './resolve.js';

export const FP_CLEANUP_AFTER_ITEM = defineFailpoint(
  'ledger.cleanup.after-item',
  'cleanup sweep: one pending evidence applied, the rest of the page not yet',
);
export const FP_RECONCILIATION_AFTER_ITEM = defineFailpoint(
  'ledger.reconciliation.after-item',
  'reconciliation: one pending evidence applied, the rest of the page not yet',
);

/** Items read per query, and at most per run (a run must fit its timeout; the next run goes on). */
const PAGE = 200;
const MAX_PER_RUN = 2_000;

export interface SweepDeps extends ResolveDeps {
  readonly store: LedgerStore;
  readonly clock: Clock;
}

export interface SweepReport {
  readonly examined: number;
  readonly applied: number;
  readonly conversionsLogged: number;
  readonly errors: number;
}

async function applyPending(
  deps: SweepDeps,
  source: Extract<ConversionSource, 'cleanup' | 'reconciliation'>,
  receivedBy: string,
  tenantId: string | undefined,
): Promise<SweepReport> {
  const point = source === 'cleanup' ? FP_CLEANUP_AFTER_ITEM : FP_RECONCILIATION_AFTER_ITEM;
  let examined = 0;
  let applied = 0;
  let conversionsLogged = 0;
  let errors = 0;
  const refs: PendingRef[] = [];
  for (let shard = 0; shard < SWEEP_SHARDS; shard++) {
    let after: string | undefined;
    do {
      const page = await deps.store.pendingEvidence(shard, receivedBy, PAGE, after);
      reportUnreadable(`ledger.${source}`, page.unreadable);
      refs.push(...page.read.filter((r) => tenantId === undefined || r.tenantId === tenantId));
      after = page.after;
    } while (after && refs.length < MAX_PER_RUN);
  }
  for (const ref of refs.slice(0, MAX_PER_RUN)) {
    examined += 1;
    const evidence = await deps.store.getEvidence(ref);
    if (evidence?.state !== 'pending') continue; // the index lagged: nothing to do
    try {
      const outcome = await resolveEvidence(deps, evidence, source);
      applied += 1;
      conversionsLogged += outcome.logged.length;
    } catch (error) {
      if (error instanceof FailpointCrashError) throw error;
      errors += 1;
      logger.error('ledger sweep could not apply evidence', { error, source, ...ref });
    }
    failpoint(point);
  }
  return { examined, applied, conversionsLogged, errors };
}

export interface SweepOptions {
  /** Only this tenant's evidence (tests and the CLI); the schedules sweep every tenant. */
  readonly tenantId?: string;
}

export function sweepWorkQueues(deps: SweepDeps, options: SweepOptions = {}) {
  return applyPending(deps, 'cleanup', isoTime(deps.clock), options.tenantId);
}

export function reconcileConversions(
  deps: SweepDeps,
  reconcileWindowSeconds: number,
  options: SweepOptions = {},
) {
  const receivedBy = new Date(deps.clock.now() - reconcileWindowSeconds * 1000).toISOString();
  return applyPending(deps, 'reconciliation', receivedBy, options.tenantId);
}

export interface MissingConversion {
  readonly userId: string;
  readonly type: string;
  readonly queueType: string;
  readonly stayId: string;
  readonly occurredAt: string;
  readonly eventId: string;
  readonly receivedAt: string;
}

/** What the reconciliation would log now for this tenant (a dry run: nothing is written). */
export async function listMissingConversions(
  deps: SweepDeps,
  tenantId: string,
  reconcileWindowSeconds: number,
): Promise<{ missing: MissingConversion[]; pendingEvidence: number }> {
  const receivedBy = new Date(deps.clock.now() - reconcileWindowSeconds * 1000).toISOString();
  const pending = await deps.store.pendingEvidenceOfTenant(tenantId, receivedBy, 500);
  reportUnreadable('ledger.missing', pending.unreadable);
  const refs: readonly PendingRef[] = pending.read;
  const missing: MissingConversion[] = [];
  let pendingEvidence = 0;
  for (const ref of refs) {
    const evidence = await deps.store.getEvidence(ref);
    if (evidence?.state !== 'pending') continue;
    pendingEvidence += 1;
    for (const queueType of await deps.queuesWaitingFor(tenantId, evidence.type)) {
      const found = await findStay(deps, evidence, queueType, 'reconciliation', true);
      if (found.kind !== 'stay') continue;
      const conversion = conversionFor(evidence, found.stay, 'reconciliation', isoTime(deps.clock));
      const existing = await deps.store.getConversion(
        tenantId,
        evidence.userId,
        evidence.type,
        queueType,
        found.stay.stayNo,
      );
      if (existing) continue;
      missing.push({
        userId: conversion.userId,
        type: conversion.type,
        queueType,
        stayId: conversion.stayId,
        occurredAt: conversion.occurredAt,
        eventId: evidence.eventId ?? evidence.evidenceId,
        receivedAt: evidence.receivedAt,
      });
    }
  }
  return { missing, pendingEvidence };
}
