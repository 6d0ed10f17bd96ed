/** The jobs context's composition root: stores, clock and settings from the environment, once. */

import { matchLead } from '../conversations/index.js';
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, settings, tableName } from '../kernel/config.js';
import { triage } from './ai-triage.js';
import type { JobDeps } from './run-job.js';

export function jobDeps(): JobDeps {
  return {
    ddb,
    clock: systemClock,
    table: tableName('inbound'),
    leaseSeconds: settings.leaseSeconds,
    // Each job type's work, registered by the context that owns it.
    work: { lead_match: matchLead, ai_triage: triage },
  };
}

export function recoveryDeps() {
  return {
    ddb,
    sqs,
    clock: systemClock,
    table: tableName('inbound'),
    jobsQueueUrl: queueUrl('jobs'),
  };
}
