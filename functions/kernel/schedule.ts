/**
 * The Lambda handler shape of every EventBridge Scheduler trigger: middy with Powertools Logger,
 * Tracer and Metrics (`edge-middleware.ts`), and the work run as `schedule:<name>` in the telemetry
 * context.
 *
 * Runs of one schedule can overlap on AWS: Scheduler invokes asynchronously every interval whether
 * or not the last run ended (a sweep may run longer than its interval), and a failed or delayed
 * invocation can arrive while the next one runs. So a schedule given a `leaseTable` holds a lease
 * for its run: a per-schedule item claimed with `claimLease` (owner unique to the invocation,
 * expiring when the function's own timeout would have ended the run), released when the run ends,
 * thrown or not. A run that finds the lease held stops at once and says so; the next firing after
 * the holder ends (or its lease expires, if it crashed) does the work.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { ddb } from './clients.js';
import { systemClock } from './clock.js';
import { conditionalUpdate } from './conditional-update.js';
import { withEdgeMiddleware } from './edge-middleware.js';
import { claimLease, LEASE_EXPIRES_AT, LEASE_OWNER, releaseLease } from './lease.js';
import { logger, withInvocation } from './telemetry.js';

export interface ScheduleOptions {
  /**
   * The table that holds this schedule's lease item: one the function reads and writes (its
   * context's own table). Without it, runs are not kept apart.
   */
  readonly leaseTable?: () => string;
}

/** What a run answers when another run of its schedule holds the lease. */
export interface ScheduleSkipped {
  readonly skipped: 'another run of this schedule holds its lease';
  readonly schedule: string;
}

/** The lease item of a schedule: one per schedule, in the context's table, in no index. */
export function scheduleLeaseKey(name: string): { pk: string; sk: string } {
  return { pk: `SCHEDULE#${name}`, sk: 'LEASE' };
}

/**
 * Frees a schedule's lease whoever holds it, in `table` if it is there. Only for a runtime that
 * knows every earlier run is dead: the local runtime starting again after its process was killed.
 * (On AWS a run killed at its timeout loses its lease then: the lease lasts the invocation's time.)
 */
export async function freeScheduleLease(
  client: DynamoDBDocumentClient,
  table: string,
  name: string,
): Promise<boolean> {
  const result = await conditionalUpdate(client, {
    table,
    key: scheduleLeaseKey(name),
    remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
    conditions: [
      { expression: 'attribute_exists(#leaseOwner)', names: { '#leaseOwner': LEASE_OWNER } },
    ],
  });
  return result.applied;
}

/** When the function's remaining time is unknown (not in Lambda): Lambda's longest timeout. */
const FALLBACK_LEASE_SECONDS = 900;

/**
 * Runs `run` holding the schedule's lease, or answers `ScheduleSkipped` when another run holds it.
 * Exported for the kernel's race test; handlers use `scheduledHandler`.
 */
export async function runLeased<T>(
  name: string,
  table: string,
  context: Pick<Context, 'getRemainingTimeInMillis'> | undefined,
  run: () => Promise<T>,
): Promise<T | ScheduleSkipped> {
  const key = scheduleLeaseKey(name);
  const owner = randomUUID();
  // The run cannot outlive the invocation, so the lease lasts exactly as long as that may take.
  const remainingMs = context?.getRemainingTimeInMillis?.();
  const leaseSeconds =
    typeof remainingMs === 'number' && remainingMs > 0
      ? Math.ceil(remainingMs / 1000)
      : FALLBACK_LEASE_SECONDS;
  const claim = await claimLease(ddb, {
    table,
    key,
    owner,
    leaseSeconds,
    clock: systemClock,
    set: { kind: 'scheduleLease', schedule: name },
  });
  if (!claim.claimed) {
    logger.info('another run of this schedule holds its lease; this run stops', { schedule: name });
    return { skipped: 'another run of this schedule holds its lease', schedule: name };
  }
  try {
    return await run();
  } finally {
    // Not released (a crash, a failed write): it expires with the invocation's time.
    await releaseLease(ddb, { table, key, owner }).catch((error: unknown) =>
      logger.warn('schedule lease not released; it expires by itself', { schedule: name, error }),
    );
  }
}

export function scheduledHandler<T>(
  name: string,
  run: () => Promise<T>,
  options: ScheduleOptions = {},
) {
  const { leaseTable } = options;
  return withEdgeMiddleware(
    middy((_event: unknown, context: Context) =>
      withInvocation(`schedule:${name}`, context, () =>
        leaseTable ? runLeased(name, leaseTable(), context, run) : run(),
      ),
    ),
  );
}
