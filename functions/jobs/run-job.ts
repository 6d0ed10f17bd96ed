/**
 * Runs the post-processing jobs one ring names: claim every named job that is claimable in one
 * conditional update of their entries in the message item (which answers with the message; a done
 * job or one another worker holds is left alone), do each job's work in run order (`lead_match`,
 * then `ai_triage`, as the message group ran them one after another when each had its own ring),
 * and settle them all in one write: each `done` (in the same transaction as its work's own record)
 * or `failed` with its attempt count. Each job's work runs in the telemetry context
 * `background_job:<type>`, so logs, metrics and the AI interaction name the job, not the queue; the
 * claim and the settle, shared by the jobs, run in `background_job:jobs`.
 *
 * The work of each type is registered by the context that owns it (`job-work.ts`): `lead_match`
 * by conversations (`functions/conversations/lead-match.ts`), `ai_triage` by jobs (`ai-triage.ts`).
 * The message item the jobs live in is conversations', so the registry and the store (with the
 * message's key) are composed there (`functions/conversations/deps.ts`): jobs import only the kernel.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import { countMetric, logger, withTelemetry, withTelemetrySource } from '../kernel/telemetry.js';
import {
  inRunOrder,
  type Job,
  type JobHost,
  type JobRing,
  type JobType,
  jobSource,
} from './items.js';
import { type JobSettlement, type JobStore, MAX_JOB_ATTEMPTS } from './job-store.js';
import type { JobWork } from './job-work.js';

export const AFTER_CLAIM = defineFailpoint(
  'jobs.after-claim',
  'job consumer: the jobs are running, no work done yet',
);

/** The telemetry source of what the jobs of a ring share: their claim and their settle. */
export const JOBS_SOURCE = 'background_job:jobs';

export interface JobDeps<H extends JobHost> {
  readonly store: JobStore<H>;
  readonly clock: Clock;
  readonly leaseSeconds: number;
  /** The work of each job type, registered by the context that owns it. */
  readonly work: Readonly<Record<JobType, JobWork<H>>>;
}

export type JobOutcome = 'done' | 'skipped' | 'failed';

/** How each named job's run ended: `skipped` when it was not claimable or was taken over. */
export type JobsOutcome = Readonly<Partial<Record<JobType, JobOutcome>>>;

/**
 * Runs the ring's jobs. Throws (after settling every job it ran) when a job failed with attempts
 * left, so the queue record fails and SQS redelivers the ring: the redelivery claims only what is
 * still claimable (the failed job, not a done one).
 */
export async function runJobs<H extends JobHost>(
  deps: JobDeps<H>,
  ring: JobRing,
): Promise<JobsOutcome> {
  return withTelemetry({ source: JOBS_SOURCE, tenantId: ring.tenantId }, async () => {
    const outcome: Partial<Record<JobType, JobOutcome>> = Object.fromEntries(
      inRunOrder(ring.jobTypes).map((type) => [type, 'skipped']),
    );
    const owner = randomUUID();
    const claim = await deps.store.claim({
      ring,
      owner,
      leaseSeconds: deps.leaseSeconds,
      now: deps.clock.now(),
    });
    if (!claim.claimed) {
      logger.info('no job of the ring claimable; leaving them', {
        messageId: ring.messageId,
        jobs: claim.jobs.map((j) => `${j.jobType}:${j.status}`),
      });
      return outcome;
    }
    failpoint(AFTER_CLAIM);
    // The claim answered with the whole message item: every job's input, no second read. (So
    // ai_triage sees the message as claimed, before lead_match's folds: an AI reply to a
    // conversation they merged away follows `mergedInto`, as every reply does: `createReply`.)
    const { message } = claim;
    const settlements: JobSettlement[] = [];
    // The errors of jobs that failed with attempts left: SQS retries them.
    const retryable = new Map<JobType, unknown>();
    for (const job of claim.jobs) {
      const run = await withTelemetrySource(jobSource(job.jobType), () => work(deps, message, job));
      settlements.push(run.settlement);
      if (run.failure !== undefined && job.attempts < MAX_JOB_ATTEMPTS)
        retryable.set(job.jobType, run.failure.error);
    }
    const { settled, lost } = await deps.store.settle({
      messageId: ring.messageId,
      owner,
      now: deps.clock.now(),
      message,
      settlements,
    });
    if (lost.length > 0) {
      logger.warn('lost a job lease before finishing; the new holder finishes it', {
        messageId: ring.messageId,
        jobs: lost,
      });
    }
    for (const s of settlements) {
      if (!settled.includes(s.jobType)) continue;
      outcome[s.jobType] = s.to;
      withTelemetrySource(jobSource(s.jobType), () =>
        countMetric(s.to === 'done' ? 'JobDone' : 'JobFailed'),
      );
    }
    // Below its attempts cap a failed job is retried by SQS: the record fails, the ring comes
    // back. (One taken over meanwhile is its new holder's to finish.)
    const errors = settled.flatMap((type) => (retryable.has(type) ? [retryable.get(type)] : []));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'jobs failed with attempts left');
    return outcome;
  });
}

/**
 * One job's work, its end as the settle writes it (and the error, when it threw); a crash
 * (failpoint) propagates untouched: nothing is settled, the leases run out, recovery re-rings.
 */
async function work<H extends JobHost>(
  deps: JobDeps<H>,
  message: H,
  job: Job,
): Promise<{ settlement: JobSettlement; failure?: { error: unknown } }> {
  try {
    const done = await deps.work[job.jobType](message, `g${job.generation}a${job.attempts}`);
    return {
      settlement: {
        jobType: job.jobType,
        to: 'done',
        result: done.result,
        ...(done.records ? { records: done.records } : {}),
      },
    };
  } catch (error) {
    if (error instanceof FailpointCrashError) throw error;
    logger.warn('job failed', { messageId: job.messageId, attempts: job.attempts, error });
    return {
      settlement: {
        jobType: job.jobType,
        to: 'failed',
        error: error instanceof Error ? error.message : String(error),
      },
      failure: { error },
    };
  }
}
