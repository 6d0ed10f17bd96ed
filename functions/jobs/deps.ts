/** The jobs context's composition root: stores, clock and settings from the environment, once. */

import { inboundDeps, matchLead } from '../conversations/index.js';
import { ddb } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { settings, tableName } from '../kernel/config.js';
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

/** The recovery sweep works on what storing a message writes: the inbound table and the jobs queue. */
export function recoveryDeps() {
  return inboundDeps();
}
