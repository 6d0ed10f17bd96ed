/** The jobs context's public surface: the only file other contexts import from. */
export {
  enqueueJobs,
  JOB_TYPES,
  type Job,
  type JobType,
  jobsOf,
  messageKey,
  messagePk,
  newJobsAttributes,
  resetFailedJob,
} from './job-store.js';
export type { JobWork, JobWorkContext, MessageItem, WorkDone } from './job-work.js';
