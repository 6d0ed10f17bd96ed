/**
 * The jobs context's public surface: the only file other contexts import from. Jobs import only
 * the kernel: the item their jobs live in belongs to whoever hosts them (the message,
 * conversations'), which hands its key and parser in (`JobHostItems`) and composes the registry of
 * each job type's work with the store, the runner and the recovery sweep.
 */
export { chatCompletion } from './ai-client.js';
export {
  AFTER_REPLY_CREATED,
  type AiReplyOutcome,
  type AiReplyPort,
  type ChatPort,
  type TriageDeps,
  type TriageInput,
  triage,
} from './ai-triage.js';
export {
  type InteractionRecord,
  inRunOrder,
  JOB_TYPES,
  type Job,
  type JobHost,
  type JobHostItems,
  type JobResult,
  type JobRing,
  type JobState,
  type JobsAttributes,
  type JobsMap,
  type JobType,
  jobsOf,
  newJobsAttributes,
  PENDING_GRACE_SECONDS,
  parseJobs,
  pendingSweepKeys,
} from './items.js';
export {
  claimableTypes,
  DynamoDbJobStore,
  enqueueJobs,
  type HostPartition,
  type JobSettlement,
  type JobStore,
  jobMessage,
  MAX_JOB_ATTEMPTS,
  MAX_JOB_GENERATIONS,
  type SettleResult,
  sweepExit,
} from './job-store.js';
export type { JobWork, WorkDone } from './job-work.js';
export { type RecoveryDeps, type RecoveryReport, recoverJobs } from './recover-jobs.js';
export {
  JOBS_SOURCE,
  type JobDeps,
  type JobOutcome,
  type JobsOutcome,
  runJobs,
} from './run-job.js';
