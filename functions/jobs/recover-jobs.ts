/**
 * The recovery sweep: finds messages whose jobs should have moved and did not, through the sparse
 * `sweep` index (only messages with a pending or running job carry its keys; never a scan):
 * - a pending job past its grace period (its enqueue was lost in a crash, or the queue message
 *   went to the DLQ) is enqueued again;
 * - a running job whose lease expired (its worker crashed) goes back to pending and is enqueued;
 * the jobs found are enqueued as one ring for the message (naming those types); then the message's
 * next look is set to the earliest time one of its jobs is due (or it leaves the index when none is
 * pending or running). Re-enqueueing is always safe: the consumer claims the jobs before working.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { countMetric } from '../kernel/telemetry.js';
import { type JobHost, jobsOf, PENDING_GRACE_SECONDS, SWEEP_SHARDS } from './items.js';
import { enqueueJobs, type JobStore, nextLookFor } from './job-store.js';

export const AFTER_STALE_RESET = defineFailpoint(
  'recovery.after-stale-reset',
  'recovery: a stale running job is back to pending, not yet enqueued',
);
export const AFTER_REQUEUE = defineFailpoint(
  'recovery.after-requeue',
  'recovery: a pending job was enqueued again, its next sweep time not yet pushed out',
);

export interface RecoveryDeps<H extends JobHost> {
  readonly store: JobStore<H>;
  readonly sqs: SQSClient;
  readonly clock: Clock;
  readonly jobsQueueUrl: string;
}

export interface RecoveryReport {
  readonly requeued: number;
  readonly staleReset: number;
}

const MAX_PER_SHARD = 1000;

/**
 * Walks every sweep shard's due hosts (the index holds keys only) and recovers each from a
 * strongly consistent read of it, so the index being behind never decides anything.
 */
export async function recoverJobs<H extends JobHost>(
  deps: RecoveryDeps<H>,
): Promise<RecoveryReport> {
  const now = deps.clock.now();
  let requeued = 0;
  let staleReset = 0;
  for (let shard = 0; shard < SWEEP_SHARDS; shard++) {
    for await (const message of deps.store.dueForSweep(shard, now, MAX_PER_SHARD)) {
      const outcome = await recoverOne(deps, message, now);
      requeued += outcome.requeued;
      staleReset += outcome.reset;
    }
  }
  if (requeued + staleReset > 0) countMetric('JobsRecovered', requeued + staleReset);
  return { requeued, staleReset };
}

async function recoverOne<H extends JobHost>(
  deps: RecoveryDeps<H>,
  message: H,
  now: number,
): Promise<{ requeued: number; reset: number }> {
  const jobs = jobsOf(message);
  const stale = jobs.filter(
    (j) => j.status === 'running' && j.leaseExpiresAt !== undefined && j.leaseExpiresAt <= now,
  );
  const due = jobs.filter((j) => j.status === 'pending' && (nextLookFor(j) ?? now) <= now);
  // The next look: each job still pending or running, as it stands after this sweep.
  const looks = jobs.map((j) =>
    stale.includes(j) || due.includes(j) ? now + PENDING_GRACE_SECONDS * 1000 : nextLookFor(j),
  );
  const next = looks.reduce<number | undefined>(
    (min, at) => (at === undefined ? min : Math.min(min ?? at, Math.max(at, now + 1000))),
    undefined,
  );
  if (stale.length > 0) {
    const reset = await deps.store.reschedule({
      message,
      staleReset: stale,
      now,
      ...(next !== undefined ? { nextLook: next } : {}),
    });
    if (!reset) return { requeued: 0, reset: 0 };
    failpoint(AFTER_STALE_RESET);
    await enqueueJobs(deps.sqs, deps.jobsQueueUrl, [...stale, ...due]);
    return { requeued: due.length, reset: stale.length };
  }
  if (due.length > 0) await enqueueJobs(deps.sqs, deps.jobsQueueUrl, due);
  if (due.length > 0) failpoint(AFTER_REQUEUE);
  await deps.store.reschedule({
    message,
    staleReset: [],
    now,
    ...(next !== undefined ? { nextLook: next } : {}),
  });
  return { requeued: due.length, reset: 0 };
}
