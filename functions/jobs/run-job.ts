/**
 * Runs one post-processing job: claim it (a conditional update of its entry in the message item,
 * which answers with the message; a done job or one another worker holds is left alone), do the work, and record `done` in the same transaction as the work's own
 * record, or `failed` with the attempt count. Everything runs in the telemetry context
 * `background_job:<type>`, so logs, metrics and the AI interaction name the job, not the queue.
 *
 * The work of each type is registered by the context that owns it (`job-work.ts`): `lead_match`
 * by conversations (`functions/conversations/lead-match.ts`), `ai_triage` by jobs (`ai-triage.ts`);
 * the composition root (`deps.ts`) wires them in, so this module imports no other context.
 */
import { randomUUID } from 'node:crypto';
import { defineFailpoint, FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import { countMetric, logger, withTelemetry } from '../kernel/telemetry.js';
import {
  claimJob,
  completeJob,
  failJob,
  type JobRing,
  type JobType,
  jobSource,
  MAX_JOB_ATTEMPTS,
} from './job-store.js';
import type { JobWork, JobWorkContext, MessageItem } from './job-work.js';

export const AFTER_CLAIM = defineFailpoint(
  'jobs.after-claim',
  'job consumer: the job is running, no work done yet',
);

export interface JobDeps extends JobWorkContext {
  readonly leaseSeconds: number;
  /** The work of each job type, registered by the context that owns it (see `deps.ts`). */
  readonly work: Readonly<Record<JobType, JobWork>>;
}

export type JobOutcome = 'done' | 'skipped' | 'failed';

export async function runJob(deps: JobDeps, ring: JobRing): Promise<JobOutcome> {
  return withTelemetry({ source: jobSource(ring.jobType), tenantId: ring.tenantId }, async () => {
    const owner = randomUUID();
    const claim = await claimJob(deps.ddb, {
      table: deps.table,
      ring,
      owner,
      leaseSeconds: deps.leaseSeconds,
      clock: deps.clock,
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
    const message = claim.message as MessageItem;
    try {
      const work = await deps.work[ring.jobType](deps, message, `g${generation}a${attempts}`);
      const done = await completeJob(deps.ddb, {
        table: deps.table,
        ring,
        owner,
        clock: deps.clock,
        message,
        result: work.result,
        ...(work.writes ? { with: work.writes } : {}),
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
      await failJob(deps.ddb, {
        table: deps.table,
        ring,
        owner,
        clock: deps.clock,
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
