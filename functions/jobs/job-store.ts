/**
 * Post-processing jobs: at most one per `(message, type)`, each an item next to its message
 * (`MSG#<messageId> / JOB#<type>`) created in the same transaction as the message, so a message can
 * never exist without its jobs. The queue only rings the bell: the consumer re-reads and claims the
 * job before working.
 *
 * States: `pending → running → done | failed`. A failed job is retried by SQS redelivery while
 * `attempts < MAX_JOB_ATTEMPTS`; a duplicate delivery of its message resets it (`failed → pending`,
 * a new generation) and it runs again. Pending and running jobs carry the sparse `sweep` index keys
 * (`sweepPk = JOBSWEEP#<shard>`, `sweepAt` = when to look again) that the recovery schedule
 * queries; done and failed jobs drop them.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../kernel/clock.js';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';
import {
  type ClaimResult,
  claimLease,
  LEASE_EXPIRES_AT,
  LEASE_OWNER,
  leaseHeldBy,
} from '../kernel/lease.js';
import { sha256Hex } from '../kernel/secrets.js';
import { type TransitionResult, transition } from '../kernel/transition.js';

export const JOB_TYPES = ['lead_match', 'ai_triage'] as const;
export type JobType = (typeof JOB_TYPES)[number];
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

/** Attempts per generation before a job stays failed until its message is delivered again. */
export const MAX_JOB_ATTEMPTS = 3;
/** The sweep index is sharded so no single partition takes every job's writes. */
export const SWEEP_SHARDS = 8;
/** A pending job nobody picked up within this long is re-enqueued by the recovery schedule. */
export const PENDING_GRACE_SECONDS = 120;

export interface Job {
  readonly pk: string;
  readonly sk: string;
  readonly kind: 'job';
  readonly tenantId: string;
  readonly messageId: string;
  readonly jobType: JobType;
  readonly status: JobStatus;
  readonly attempts: number;
  readonly generation: number;
  readonly source: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly sweepPk?: string;
  readonly sweepAt?: string;
  readonly leaseOwner?: string;
  readonly leaseExpiresAt?: number;
  readonly error?: string;
  readonly result?: Record<string, unknown>;
}

/** Body of a jobs-queue message: just enough to find the job; the job item holds the truth. */
export interface JobRing {
  readonly tenantId: string;
  readonly messageId: string;
  readonly jobType: JobType;
}

export const messagePk = (messageId: string) => `MSG#${messageId}`;
export const jobKey = (messageId: string, type: JobType) => ({
  pk: messagePk(messageId),
  sk: `JOB#${type}`,
});
export const jobSource = (type: JobType) => `background_job:${type}`;

export function sweepShard(messageId: string): string {
  return `JOBSWEEP#${Number.parseInt(sha256Hex(messageId).slice(0, 4), 16) % SWEEP_SHARDS}`;
}

export const iso = (ms: number) => new Date(ms).toISOString();

export function newJob(tenantId: string, messageId: string, type: JobType, now: number): Job {
  return {
    ...jobKey(messageId, type),
    kind: 'job',
    tenantId,
    messageId,
    jobType: type,
    status: 'pending',
    attempts: 0,
    generation: 1,
    source: jobSource(type),
    createdAt: iso(now),
    updatedAt: iso(now),
    sweepPk: sweepShard(messageId),
    sweepAt: iso(now + PENDING_GRACE_SECONDS * 1000),
  };
}

/**
 * The queue message for a job. Its FIFO deduplication identity is the job's identity plus its
 * generation and attempts, so an enqueue retried by the same step is dropped by SQS, while a reset
 * (new generation) or a recovery of a crashed run (attempts moved on) is a new message.
 */
export function jobMessage(
  job: Pick<Job, 'tenantId' | 'messageId' | 'jobType' | 'generation' | 'attempts'>,
): FifoMessage {
  const body: JobRing = { tenantId: job.tenantId, messageId: job.messageId, jobType: job.jobType };
  return {
    body,
    groupId: job.messageId,
    identity: `job:${job.messageId}:${job.jobType}:g${job.generation}:a${job.attempts}`,
  };
}

export async function enqueueJobs(
  sqs: SQSClient,
  queueUrl: string,
  jobs: ReadonlyArray<Parameters<typeof jobMessage>[0]>,
): Promise<void> {
  if (jobs.length > 0) await enqueueFifo(sqs, queueUrl, jobs.map(jobMessage));
}

/** The message item and its jobs, in one strongly consistent query of the message's partition. */
export async function readMessagePartition(
  ddb: DynamoDBDocumentClient,
  table: string,
  messageId: string,
): Promise<{
  message?: Record<string, unknown>;
  jobs: Job[];
  interactions: Record<string, unknown>[];
}> {
  const out = await ddb.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': messagePk(messageId) },
      ConsistentRead: true,
    }),
  );
  const items = out.Items ?? [];
  const message = items.find((i) => i.sk === 'MSG');
  return {
    ...(message ? { message } : {}),
    jobs: items.filter((i) => i.kind === 'job') as Job[],
    interactions: items.filter((i) => i.kind === 'interaction'),
  };
}

/**
 * Claims a job for one run: pending, failed with attempts left, or running under an expired lease
 * (its worker crashed). Moves it to `running`, counts the attempt and sets the sweep time to the
 * lease expiry, all in one conditional write.
 */
export async function claimJob(
  ddb: DynamoDBDocumentClient,
  input: { table: string; ring: JobRing; owner: string; leaseSeconds: number; clock: Clock },
): Promise<ClaimResult> {
  const now = input.clock.now();
  return claimLease(ddb, {
    table: input.table,
    key: jobKey(input.ring.messageId, input.ring.jobType),
    owner: input.owner,
    leaseSeconds: input.leaseSeconds,
    clock: input.clock,
    increment: 'attempts',
    also: {
      condition:
        '#tenant = :tenant AND (#st = :pending OR #st = :running OR (#st = :failed AND #attempts < :max))',
      names: { '#st': 'status', '#attempts': 'attempts', '#tenant': 'tenantId' },
      values: {
        ':pending': 'pending',
        ':running': 'running',
        ':failed': 'failed',
        ':max': MAX_JOB_ATTEMPTS,
        ':tenant': input.ring.tenantId,
      },
    },
    set: {
      status: 'running',
      updatedAt: iso(now),
      sweepPk: sweepShard(input.ring.messageId),
      sweepAt: iso(now + input.leaseSeconds * 1000),
    },
  });
}

/** `running → done`, only by the lease holder; extra writes (e.g. the interaction) go in the same transaction. */
export async function completeJob(
  ddb: DynamoDBDocumentClient,
  input: {
    table: string;
    ring: JobRing;
    owner: string;
    clock: Clock;
    result: Record<string, unknown>;
    with?: Parameters<typeof transition>[1]['with'];
  },
): Promise<TransitionResult> {
  return transition(ddb, {
    table: input.table,
    key: jobKey(input.ring.messageId, input.ring.jobType),
    from: ['running'],
    to: 'done',
    set: { updatedAt: iso(input.clock.now()), result: input.result },
    remove: ['sweepPk', 'sweepAt', LEASE_OWNER, LEASE_EXPIRES_AT, 'error'],
    also: leaseHeldBy(input.owner),
    ...(input.with ? { with: input.with } : {}),
  });
}

/** `running → failed`, only by the lease holder. */
export async function failJob(
  ddb: DynamoDBDocumentClient,
  input: { table: string; ring: JobRing; owner: string; clock: Clock; error: string },
): Promise<TransitionResult> {
  return transition(ddb, {
    table: input.table,
    key: jobKey(input.ring.messageId, input.ring.jobType),
    from: ['running'],
    to: 'failed',
    set: { updatedAt: iso(input.clock.now()), error: input.error.slice(0, 500) },
    remove: ['sweepPk', 'sweepAt', LEASE_OWNER, LEASE_EXPIRES_AT],
    also: leaseHeldBy(input.owner),
  });
}

/**
 * A duplicate delivery found this job failed: reset it to a fresh generation so it runs again.
 * Guarded on `failed` and the generation seen, so two duplicates reset it once.
 */
export async function resetFailedJob(
  ddb: DynamoDBDocumentClient,
  input: { table: string; job: Job; clock: Clock },
): Promise<Job | undefined> {
  const now = input.clock.now();
  const generation = input.job.generation + 1;
  const result = await transition(ddb, {
    table: input.table,
    key: jobKey(input.job.messageId, input.job.jobType),
    from: ['failed'],
    to: 'pending',
    set: {
      generation,
      attempts: 0,
      updatedAt: iso(now),
      sweepPk: sweepShard(input.job.messageId),
      sweepAt: iso(now + PENDING_GRACE_SECONDS * 1000),
    },
    remove: ['error'],
    also: {
      condition: '#gen = :gen',
      names: { '#gen': 'generation' },
      values: { ':gen': input.job.generation },
    },
  });
  return result.applied ? { ...input.job, status: 'pending', generation, attempts: 0 } : undefined;
}
