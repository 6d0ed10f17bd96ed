/**
 * Runs one post-processing job: claim it (a conditional update of its entry in the message item,
 * which answers with the message; a done job or one another worker holds is left alone), do the work, and record `done` in the same transaction as the work's own
 * record, or `failed` with the attempt count. Everything runs in the telemetry context
 * `background_job:<type>`, so logs, metrics and the AI interaction name the job, not the queue.
 *
 * The work of each type is registered by the context that owns it (`job-work.ts`): `lead_match`
 * by conversations (`functions/conversations/lead-match.ts`), `ai_triage` by jobs (`ai-triage.ts`).
 * The message item the jobs live in is conversations', so the registry and the store (with the
 * message's key) are composed there (`functions/conversations/deps.ts`): jobs import only the kernel.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import { countMetric, logger, withTelemetry } from '../kernel/telemetry.js';
import { type JobHost, type JobRing, type JobType, jobSource } from './items.js';
import { type JobStore, MAX_JOB_ATTEMPTS } from './job-store.js';
import type { JobWork } from './job-work.js';

export const AFTER_CLAIM = defineFailpoint(
  'jobs.after-claim',
  'job consumer: the job is running, no work done yet',
);

export interface JobDeps<H extends JobHost> {
  readonly store: JobStore<H>;
  readonly clock: Clock;
  readonly leaseSeconds: number;
  /** The work of each job type, registered by the context that owns it. */
  readonly work: Readonly<Record<JobType, JobWork<H>>>;
}

export type JobOutcome = 'done' | 'skipped' | 'failed';

export async function runJob<H extends JobHost>(
  deps: JobDeps<H>,
  ring: JobRing,
): Promise<JobOutcome> {
  return withTelemetry({ source: jobSource(ring.jobType), tenantId: ring.tenantId }, async () => {
    const owner = randomUUID();
    const claim = await deps.store.claim({
      ring,
      owner,
      leaseSeconds: deps.leaseSeconds,
      now: deps.clock.now(),
    });
    if (!claim.claimed) {
      logger.info('job not claimable; leaving it', {
        messageId: ring.messageId,
        status: claim.job?.status,
      });
      return 'skipped';
    }
    failpoint(AFTER_CLAIM);
    const { attempts, generation } = claim.job;
    // The claim answered with the whole message item: the work's input, no second read.
    const { message } = claim;
    try {
      const work = await deps.work[ring.jobType](message, `g${generation}a${attempts}`);
      const done = await deps.store.complete({
        ring,
        owner,
        now: deps.clock.now(),
        message,
        result: work.result,
        ...(work.records ? { records: work.records } : {}),
      });
      if (!done.applied) {
        logger.warn('lost the job lease before finishing; the new holder finishes it', {
          messageId: ring.messageId,
        });
        return 'skipped';
      }
      countMetric('JobDone');
      return 'done';
    } catch (error) {
      if (error instanceof FailpointCrashError) throw error;
      await deps.store.fail({
        ring,
        owner,
        now: deps.clock.now(),
        message,
        error: error instanceof Error ? error.message : String(error),
      });
      countMetric('JobFailed');
      logger.warn('job failed', { messageId: ring.messageId, attempts, error });
      if (attempts < MAX_JOB_ATTEMPTS) throw error;
      return 'failed';
    }
  });
}
