/**
 * Joining and leaving work queues. A stay starts with one conditional write (the member item
 * created, or its `stayNo` bumped from the number read, with the closed stay's record in the same
 * transaction) and ends with one (guarded on the stay number). Leaving for another reason never
 * logs or cancels anything: a conversion depends on the evidence and the stay, not on who removed
 * the user, and any evidence for this stay is still pending in the sweep index or already applied.
 */
import { type Clock, isoTime } from '../kernel/clock.js';
import { ConflictError, NotFoundError } from '../kernel/errors.js';
import type { LedgerStore, Page } from './ledger-store.js';
import { laterOf, type MemberItem, stayIdOf } from './model.js';
import type { WorkQueueCatalog } from './work-queues.js';

export interface MembershipDeps {
  readonly store: LedgerStore;
  readonly clock: Clock;
  readonly catalog: WorkQueueCatalog;
}

export interface JoinResult {
  readonly stayId: string;
  readonly created: boolean;
}

export async function joinQueue(
  deps: MembershipDeps,
  tenantId: string,
  queueType: string,
  userId: string,
): Promise<JoinResult> {
  const eventType = await deps.catalog.eventTypeOf(tenantId, queueType);
  // The latest instant the stay may not start at or before: the previous stay's end, and evidence
  // already decided to fall in no stay (`noStayThrough`), as the last write refused told us.
  let notThrough: string | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    // Strictly after `notThrough` (even with a clock behind), so no evidence time falls in two
    // stays, and none already applied without a stay falls in this one.
    const joinedAt = startAfter(isoTime(deps.clock), notThrough);
    const first: MemberItem = {
      tenantId,
      queueType,
      userId,
      eventType,
      stayNo: 1,
      stayId: stayIdOf(tenantId, queueType, userId, 1),
      status: 'in',
      joinedAt,
    };
    const created = await deps.store.createMember(first);
    if (created.created) return { stayId: first.stayId, created: true };
    if ('noStayThrough' in created) {
      notThrough = latest(notThrough, created.noStayThrough);
      continue;
    }
    const current = created.existing;
    if (current.status === 'in') return { stayId: current.stayId, created: false };
    const stayNo = current.stayNo + 1;
    const next = {
      stayNo,
      stayId: stayIdOf(tenantId, queueType, userId, stayNo),
      joinedAt: startAfter(joinedAt, latest(current.leftAt, current.noStayThrough, notThrough)),
      eventType,
    };
    if (await deps.store.startNextStay(current, next)) {
      return { stayId: next.stayId, created: true };
    }
    // Someone else started (or ended) a stay meanwhile, or evidence fenced it: read again.
  }
  throw new ConflictError('The membership is being changed concurrently; retry.');
}

/** The latest of these times (ISO strings compare as times), if any. */
function latest(...times: Array<string | undefined>): string | undefined {
  return times.reduce<string | undefined>(
    (a, b) => (a === undefined ? b : b === undefined ? a : laterOf(a, b)),
    undefined,
  );
}

/** `now`, or 1 ms after `bound` when the clock is not past it. */
function startAfter(now: string, bound: string | undefined): string {
  return bound !== undefined && bound >= now ? new Date(Date.parse(bound) + 1).toISOString() : now;
}

export interface LeaveResult {
  readonly stayId: string;
  /** False when the stay had already ended (by another removal or because the user converted). */
  readonly left: boolean;
}

export async function leaveQueue(
  deps: MembershipDeps,
  tenantId: string,
  queueType: string,
  userId: string,
  reason: string,
): Promise<LeaveResult> {
  await deps.catalog.eventTypeOf(tenantId, queueType);
  for (let attempt = 0; attempt < 5; attempt++) {
    const member = await deps.store.getMember(tenantId, queueType, userId);
    if (!member) throw new NotFoundError(`User ${userId} is not in the ${queueType} queue.`);
    if (member.status === 'out') return { stayId: member.stayId, left: false };
    const leftAt = isoTime(deps.clock);
    const closed = await deps.store.closeStay(member, {
      leftAt: leftAt > member.joinedAt ? leftAt : member.joinedAt,
      leftReason: reason,
      leftBy: 'removal',
    });
    if (closed) return { stayId: member.stayId, left: true };
  }
  throw new ConflictError('The membership is being changed concurrently; retry.');
}

export interface MemberView {
  readonly userId: string;
  readonly stayId: string;
  readonly joinedAt: string;
}

export async function listMembers(
  deps: MembershipDeps,
  tenantId: string,
  queueType: string,
  cursor: string | undefined,
  limit: number,
): Promise<{ members: MemberView[]; nextCursor: string | null }> {
  await deps.catalog.eventTypeOf(tenantId, queueType);
  const page: Page<MemberItem> = await deps.store.listMembers(tenantId, queueType, cursor, limit);
  return {
    members: page.items.map((m) => ({ userId: m.userId, stayId: m.stayId, joinedAt: m.joinedAt })),
    nextCursor: page.nextCursor,
  };
}
