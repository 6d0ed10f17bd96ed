/**
 * The recovery sweep: finds jobs that should have moved and did not, through the sparse `sweep`
 * index (only pending and running jobs carry its keys; never a scan):
 * - a pending job past its grace period (its enqueue was lost in a crash, or the queue message
 *   went to the DLQ) is enqueued again and its next look pushed out;
 * - a running job whose lease expired (its worker crashed) goes back to pending and is enqueued.
 * Re-enqueueing is always safe: the consumer re-reads and claims the job before working.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { LEASE_EXPIRES_AT, LEASE_OWNER } from '../kernel/lease.js';
import { countMetric } from '../kernel/telemetry.js';
import { transition } from '../kernel/transition.js';
import {
  enqueueJobs,
  iso,
  type Job,
  jobKey,
  PENDING_GRACE_SECONDS,
  SWEEP_SHARDS,
} from './job-store.js';

export const AFTER_STALE_RESET = defineFailpoint(
  'recovery.after-stale-reset',
  'recovery: a stale running job is back to pending, not yet enqueued',
);
export const AFTER_REQUEUE = defineFailpoint(
  'recovery.after-requeue',
  'recovery: a pending job was enqueued again, its next sweep time not yet pushed out',
);

export interface RecoveryDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly clock: Clock;
  readonly table: string;
  readonly jobsQueueUrl: string;
}

export interface RecoveryReport {
  readonly requeued: number;
  readonly staleReset: number;
}

const PAGE = 100;
const MAX_PER_SHARD = 1000;

export async function recoverJobs(deps: RecoveryDeps): Promise<RecoveryReport> {
  const now = deps.clock.now();
  let requeued = 0;
  let staleReset = 0;
  for (let shard = 0; shard < SWEEP_SHARDS; shard++) {
    let start: Record<string, unknown> | undefined;
    let seen = 0;
    do {
      const page = await deps.ddb.send(
        new QueryCommand({
          TableName: deps.table,
          IndexName: 'sweep',
          KeyConditionExpression: 'sweepPk = :pk AND sweepAt <= :now',
          ExpressionAttributeValues: { ':pk': `JOBSWEEP#${shard}`, ':now': iso(now) },
          Limit: PAGE,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of (page.Items ?? []) as Job[]) {
        seen += 1;
        if (item.kind !== 'job') continue;
        const outcome = await recoverOne(deps, item, now);
        if (outcome === 'requeued') requeued += 1;
        if (outcome === 'reset') staleReset += 1;
      }
      start = page.LastEvaluatedKey;
    } while (start && seen < MAX_PER_SHARD);
  }
  if (requeued + staleReset > 0) countMetric('JobsRecovered', requeued + staleReset);
  return { requeued, staleReset };
}

async function recoverOne(
  deps: RecoveryDeps,
  job: Job,
  now: number,
): Promise<'requeued' | 'reset' | 'none'> {
  const key = jobKey(job.messageId, job.jobType);
  const nextLook = iso(now + PENDING_GRACE_SECONDS * 1000);
  if (job.status === 'running') {
    const reset = await transition(deps.ddb, {
      table: deps.table,
      key,
      from: ['running'],
      to: 'pending',
      set: { sweepAt: nextLook, updatedAt: iso(now) },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
      also: {
        condition: '#exp <= :now',
        names: { '#exp': LEASE_EXPIRES_AT },
        values: { ':now': now },
      },
    });
    if (!reset.applied) return 'none';
    failpoint(AFTER_STALE_RESET);
    await enqueueJobs(deps.sqs, deps.jobsQueueUrl, [job]);
    return 'reset';
  }
  if (job.status === 'pending') {
    await enqueueJobs(deps.sqs, deps.jobsQueueUrl, [job]);
    failpoint(AFTER_REQUEUE);
    await transition(deps.ddb, {
      table: deps.table,
      key,
      from: ['pending'],
      to: 'pending',
      set: { sweepAt: nextLook },
      also: { condition: 'sweepAt = :seen', values: { ':seen': job.sweepAt } },
    });
    return 'requeued';
  }
  return 'none';
}
