/**
 * `POST /v1/users/{userId}/events`: evidence stored once (a conditional put keyed by the event id,
 * or by an id derived from user, type and occurredAt), then applied at once with `source: event`.
 * A repeat of an event stores nothing new but finishes applying it if a crash stopped the first.
 */
import { type Clock, isoTime } from '../kernel/clock.js';
import { ConflictError } from '../kernel/errors.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { duplicateEvidenceSuppressed } from './ledger-metrics.js';
import type { LedgerStore } from './ledger-store.js';
import { type EvidenceItem, earlierOf, evidenceIdOf } from './model.js';
import { type ResolveDeps, resolveEvidence } from './resolve.js';

export const FP_EVENT_AFTER_EVIDENCE = defineFailpoint(
  'ledger.event.after-evidence',
  'event: the evidence was stored (pending in the sweep index), not yet applied',
);

export interface EventInput {
  readonly type: string;
  /** ISO-8601, normalised by the caller. */
  readonly occurredAt: string;
  readonly eventId?: string | undefined;
}

export interface RecordEventResult {
  readonly eventId: string;
  readonly duplicate: boolean;
  readonly conversionsLogged: number;
}

export async function recordEvent(
  deps: ResolveDeps & { readonly store: LedgerStore; readonly clock: Clock },
  tenantId: string,
  userId: string,
  input: EventInput,
): Promise<RecordEventResult> {
  const receivedAt = isoTime(deps.clock);
  const evidenceId = evidenceIdOf(userId, input.type, input.occurredAt, input.eventId);
  const fresh: EvidenceItem = {
    tenantId,
    userId,
    type: input.type,
    evidenceId,
    ...(input.eventId !== undefined ? { eventId: input.eventId } : {}),
    occurredAt: input.occurredAt,
    effectiveAt: earlierOf(input.occurredAt, receivedAt),
    receivedAt,
    state: 'pending',
  };
  const stored = await deps.store.putEvidence(fresh);
  let evidence = fresh;
  if (!stored.created) {
    evidence = stored.existing;
    if (evidence.occurredAt !== input.occurredAt) {
      throw new ConflictError(
        `Event ${input.eventId ?? evidenceId} was already recorded with another occurredAt.`,
        'conflict',
        [{ field: 'occurredAt', message: `was ${evidence.occurredAt}` }],
      );
    }
    duplicateEvidenceSuppressed();
    if (evidence.state === 'applied') {
      return { eventId: input.eventId ?? evidenceId, duplicate: true, conversionsLogged: 0 };
    }
  }
  failpoint(FP_EVENT_AFTER_EVIDENCE);
  const outcome = await resolveEvidence(deps, evidence, 'event');
  return {
    eventId: input.eventId ?? evidenceId,
    duplicate: !stored.created,
    conversionsLogged: outcome.logged.length,
  };
}
