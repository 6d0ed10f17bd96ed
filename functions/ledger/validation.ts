/**
 * `POST /v1/work-queues/{queueType}/validate`: pre-call validation. A user still in the queue
 * whose current stay already has evidence no longer belongs: the evidence is applied with
 * `source: pre_call_validation` (which removes the user and logs the conversion unless another path
 * logged it first). Users not in the queue are left alone.
 */
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import type { LedgerStore } from './ledger-store.js';
import { type ResolveDeps, resolveEvidence } from './resolve.js';
import type { WorkQueueCatalog } from './work-queues.js';

export const FP_VALIDATION_AFTER_USER = defineFailpoint(
  'ledger.pre_call_validation.after-user',
  'pre-call validation: one user checked and applied, the rest of the list not yet',
);

/** How many users one validation request may name (each costs a few reads). */
export const MAX_VALIDATE_USERS = 500;
const CONCURRENCY = 8;

export interface ValidationResult {
  readonly removed: string[];
  readonly conversionsLogged: number;
}

export async function validateQueue(
  deps: ResolveDeps & { readonly store: LedgerStore; readonly catalog: WorkQueueCatalog },
  tenantId: string,
  queueType: string,
  userIds: readonly string[],
): Promise<ValidationResult> {
  await deps.catalog.eventTypeOf(tenantId, queueType);
  const unique = [...new Set(userIds)];
  const removed = new Set<string>();
  let conversionsLogged = 0;
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const userId = unique[next++] as string;
      const member = await deps.store.getMember(tenantId, queueType, userId);
      if (member?.status !== 'in') continue;
      const evidence = (await deps.store.evidenceOf(tenantId, userId, member.eventType)).filter(
        (e) => e.effectiveAt >= member.joinedAt,
      );
      for (const item of evidence) {
        const outcome = await resolveEvidence(deps, item, 'pre_call_validation');
        conversionsLogged += outcome.logged.length;
        if (outcome.owed > 0) removed.add(userId);
      }
      failpoint(FP_VALIDATION_AFTER_USER);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, unique.length) }, worker));
  return { removed: unique.filter((u) => removed.has(u)), conversionsLogged };
}
