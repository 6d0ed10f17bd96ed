/**
 * The port a job type's owner implements: given the host item (the message, as the claim answered
 * it) and a run id, do the work and return its result, plus any records that must commit with
 * `done`. A work takes what else it needs (its stores, its clock) from whoever registers it.
 */
import type { InteractionRecord, JobHost, JobResult } from './items.js';

export interface WorkDone {
  readonly result: JobResult;
  /** Written in the same transaction as `done`, beside the host (once: a retry finds them). */
  readonly records?: readonly InteractionRecord[];
}

export type JobWork<H extends JobHost = JobHost> = (message: H, run: string) => Promise<WorkDone>;
