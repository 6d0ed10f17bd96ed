/**
 * Post-processing jobs: at most one per `(message, type)`, structurally: each job is an entry of the
 * message item's `jobs` map (`jobs.<type>` = status, attempts, generation, lease, updatedAt), written
 * in the same put as the message, so a message can never exist without its jobs and a duplicate's
 * failed put returns their states with the message (no extra read). The queue only rings the bell:
 * the consumer claims the job (the kernel's `claimLease` on its map entry) before working. Every
 * write here goes through the kernel (`claimLease`, `conditionalUpdate`, `writeAtomically`).
 *
 * States: `pending → running → done | failed`. A failed job is retried by SQS redelivery while
 * `attempts < MAX_JOB_ATTEMPTS`; a duplicate delivery of its message resets it (`failed → pending`,
 * a new generation) and it runs again. While any job is pending or running the message item carries
 * the sparse `sweep` index keys (`sweepPk = JOBSWEEP#<shard>`, `sweepAt` = when to look again) that
 * the recovery schedule queries; the write that leaves every job done or failed drops them, guarded
 * on the other jobs' states it saw, so a concurrent change to another job is never swept away.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import type { Clock } from '../kernel/clock.js';
import {
  type ConditionalUpdateInput,
  conditionalUpdate,
  conditionalUpdateWrite,
} from '../kernel/conditional-update.js';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';
import { claimLease, LEASE_EXPIRES_AT, LEASE_OWNER, leaseHeldBy } from '../kernel/lease.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Condition } from '../kernel/update-expression.js';

export const JOB_TYPES = ['lead_match', 'ai_triage'] as const;
export type JobType = (typeof JOB_TYPES)[number];
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

/** Attempts per generation before a job stays failed until its message is delivered again. */
export const MAX_JOB_ATTEMPTS = 3;
/**
 * Generations a job may have: a duplicate delivery of its message resets a failed job to a new
 * generation only below this, so a duplicate storm cannot run a failing job forever
 * (at most MAX_JOB_ATTEMPTS × MAX_JOB_GENERATIONS runs in all).
 */
export const MAX_JOB_GENERATIONS = 3;
/**
 * The sweep index is sharded so no partition key takes more than its share of the index writes
 * (two per message with jobs: entering and leaving; docs/scale.md has the arithmetic).
 */
export const SWEEP_SHARDS = 64;
/** The keys-only index of the inbound table the recovery schedule queries. */
export const JOB_SWEEP_INDEX = 'jobsweep';
export const sweepShardKey = (shard: number) => `JOBSWEEP#${shard}`;
/** A pending job nobody picked up within this long is re-enqueued by the recovery schedule. */
export const PENDING_GRACE_SECONDS = 120;

/** One entry of the message item's `jobs` map. */
export interface JobState {
  readonly status: JobStatus;
  readonly attempts: number;
  readonly generation: number;
  readonly updatedAt: string;
  readonly leaseOwner?: string;
  readonly leaseExpiresAt?: number;
  readonly error?: string;
  readonly result?: Record<string, unknown>;
}

/** A job as read: its map entry with the identity it lives under. */
export interface Job extends JobState {
  readonly tenantId: string;
  readonly messageId: string;
  readonly jobType: JobType;
  readonly source: string;
}

/** Body of a jobs-queue message: just enough to find the job; the message item holds the truth. */
export interface JobRing {
  readonly tenantId: string;
  readonly messageId: string;
  readonly jobType: JobType;
}

export const messagePk = (messageId: string) => `MSG#${messageId}`;
export const messageKey = (messageId: string) => ({ pk: messagePk(messageId), sk: 'MSG' });
export const jobSource = (type: JobType) => `background_job:${type}`;

export function sweepShard(messageId: string): string {
  return sweepShardKey(Number.parseInt(sha256Hex(messageId).slice(0, 4), 16) % SWEEP_SHARDS);
}

export const iso = (ms: number) => new Date(ms).toISOString();

const TERMINAL: ReadonlySet<string> = new Set(['done', 'failed']);
const isJobType = (t: string): t is JobType => (JOB_TYPES as readonly string[]).includes(t);

/** The attributes a new message item carries for its jobs (none for a message without jobs). */
export function newJobsAttributes(
  messageId: string,
  types: readonly JobType[],
  now: number,
): Record<string, unknown> {
  if (types.length === 0) return {};
  const state: JobState = { status: 'pending', attempts: 0, generation: 1, updatedAt: iso(now) };
  return {
    jobs: Object.fromEntries(types.map((t) => [t, state])),
    sweepPk: sweepShard(messageId),
    sweepAt: iso(now + PENDING_GRACE_SECONDS * 1000),
  };
}

/** The jobs of a message item, one per type. */
export function jobsOf(item: Record<string, unknown> | undefined): Job[] {
  const map = item?.jobs;
  if (!item || !map || typeof map !== 'object') return [];
  return Object.entries(map as Record<string, JobState>)
    .filter(([type]) => isJobType(type))
    .map(([type, state]) => ({
      ...state,
      tenantId: String(item.tenantId),
      messageId: String(item.messageId),
      jobType: type as JobType,
      source: jobSource(type as JobType),
    }));
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

/** The message item, its jobs and its AI interactions, in one strongly consistent query. */
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
    jobs: jobsOf(message),
    interactions: items.filter((i) => i.kind === 'interaction'),
  };
}

// --- writes on one job's map entry (through the kernel: claimLease, conditionalUpdate) -----------

/** The map entry a job lives in: `jobs.<type>`; its lease lives there too. */
const jobEntry = (type: JobType) => ['jobs', type] as const;

/**
 * A guard on job attributes, written with `job(type, attr)` paths. Its placeholders
 * (`#jobs`, `#t_<type>`, `#a_<attr>`) never clash with the kernel's (`#u<n>`, `#lease<n>`).
 */
function jobGuard(
  build: (job: (type: JobType, attr: string) => string) => string,
  values: Record<string, unknown> = {},
): Condition {
  const names: Record<string, string> = {};
  const job = (type: JobType, attr: string) => {
    names['#jobs'] = 'jobs';
    names[`#t_${type}`] = type;
    names[`#a_${attr}`] = attr;
    return `#jobs.#t_${type}.#a_${attr}`;
  };
  const expression = build(job);
  return { expression, names, values };
}

/** Every one of `types` is done or failed. */
const settledGuard = (types: readonly JobType[]) =>
  jobGuard(
    (job) =>
      types
        .map((t) => `(${job(t, 'status')} = :done OR ${job(t, 'status')} = :failed)`)
        .join(' AND '),
    { ':done': 'done', ':failed': 'failed' },
  );

/** The sweep keys a message carries while a job may need looking at; `sweepAt` kept if earlier. */
const keepSwept = (messageId: string, lookAt: number) => ({
  set: { sweepPk: sweepShard(messageId) },
  setIfAbsent: { sweepAt: iso(lookAt) },
});

export type JobWriteResult =
  | { readonly applied: true; readonly item?: Record<string, unknown> }
  | { readonly applied: false; readonly current?: Record<string, unknown> };

export type JobClaim =
  | { readonly claimed: true; readonly message: Record<string, unknown>; readonly job: Job }
  | { readonly claimed: false; readonly job?: Job };

/**
 * Claims a job for one run: pending, failed with attempts left, or running under an expired lease
 * (its worker crashed). Moves it to `running`, counts the attempt and takes the lease (the kernel's
 * `claimLease`, on the job's map entry), all in one conditional update that answers with the whole
 * message item (the work's input).
 */
export async function claimJob(
  ddb: DynamoDBDocumentClient,
  input: { table: string; ring: JobRing; owner: string; leaseSeconds: number; clock: Clock },
): Promise<JobClaim> {
  const { ring } = input;
  // One instant for the lease and the sweep look, so the look is exactly the lease's expiry.
  const now = input.clock.now();
  const expiresAt = now + input.leaseSeconds * 1000;
  const claimable = jobGuard(
    (job) => {
      const st = job(ring.jobType, 'status');
      return `tenantId = :tenant AND attribute_exists(${st}) AND (${st} = :pending OR ${st} = :running OR (${st} = :failed AND ${job(ring.jobType, 'attempts')} < :max))`;
    },
    {
      ':tenant': ring.tenantId,
      ':pending': 'pending',
      ':running': 'running',
      ':failed': 'failed',
      ':max': MAX_JOB_ATTEMPTS,
    },
  );
  const claim = await claimLease(ddb, {
    table: input.table,
    key: messageKey(ring.messageId),
    owner: input.owner,
    leaseSeconds: input.leaseSeconds,
    clock: { now: () => now },
    at: jobEntry(ring.jobType),
    set: { status: 'running', updatedAt: iso(now) },
    increment: 'attempts',
    update: keepSwept(ring.messageId, expiresAt),
    also: claimable,
  });
  if (!claim.claimed) {
    const job = jobsOf(claim.current).find((j) => j.jobType === ring.jobType);
    return { claimed: false, ...(job ? { job } : {}) };
  }
  const job = jobsOf(claim.item).find((j) => j.jobType === ring.jobType);
  if (!job) throw new Error(`claimed job ${ring.jobType} of ${ring.messageId} is missing`);
  return { claimed: true, message: claim.item, job };
}

/** The other job types of the message that are done or failed in `message`, and whether all are. */
function othersSettled(message: Record<string, unknown> | undefined, type: JobType) {
  const others = jobsOf(message).filter((j) => j.jobType !== type);
  return {
    others: others.map((j) => j.jobType),
    settled: others.every((j) => TERMINAL.has(j.status)),
  };
}

/**
 * `running → done | failed`, only by the lease holder, releasing the lease; extra writes (e.g. the
 * interaction) go in the same transaction. When every other job is settled too, the same write
 * leaves the sweep index, guarded on those states; if another job moved meanwhile, it is written
 * again knowing that.
 */
async function settleJob(
  ddb: DynamoDBDocumentClient,
  input: {
    table: string;
    ring: JobRing;
    owner: string;
    message: Record<string, unknown>;
    to: 'done' | 'failed';
    set: Record<string, unknown>;
    remove: readonly string[];
    with?: readonly AtomicWrite[];
  },
): Promise<JobWriteResult & { failed?: string }> {
  const { ring } = input;
  const held = leaseHeldBy(input.owner, jobEntry(ring.jobType));
  const running = jobGuard((job) => `${job(ring.jobType, 'status')} = :running`, {
    ':running': 'running',
  });
  let seen: Record<string, unknown> | undefined = input.message;
  for (let attempt = 0; attempt < 5; attempt++) {
    const { others, settled } = othersSettled(seen, ring.jobType);
    const update: ConditionalUpdateInput = {
      table: input.table,
      key: messageKey(ring.messageId),
      within: [
        {
          path: jobEntry(ring.jobType),
          set: { ...input.set, status: input.to },
          remove: [LEASE_OWNER, LEASE_EXPIRES_AT, ...input.remove],
        },
      ],
      ...(settled ? { remove: ['sweepPk', 'sweepAt'] } : {}),
      conditions: [running, held, ...(settled && others.length > 0 ? [settledGuard(others)] : [])],
    };
    let result: JobWriteResult & { failed?: string };
    if (input.with && input.with.length > 0) {
      const out = await writeAtomically(ddb, [
        conditionalUpdateWrite('job', update),
        ...input.with,
      ]);
      result = out.ok
        ? { applied: true }
        : {
            applied: false,
            failed: out.failed,
            ...(out.current ? { current: out.current } : {}),
          };
      if (!out.ok && out.failed !== 'job') return result;
    } else {
      result = await conditionalUpdate(ddb, update);
    }
    if (result.applied) return result;
    // Still ours and running: only the guard on the other jobs failed; write again knowing them.
    const job = jobsOf(result.current).find((j) => j.jobType === ring.jobType);
    if (!settled || job?.status !== 'running' || job.leaseOwner !== input.owner) return result;
    seen = result.current;
  }
  throw new Error(`job ${ring.jobType} of ${ring.messageId} kept changing under us`);
}

/** What settling a job needs: the job, the lease holder, and the message item as claimed. */
interface SettleInput {
  table: string;
  ring: JobRing;
  owner: string;
  clock: Clock;
  message: Record<string, unknown>;
}

export function completeJob(
  ddb: DynamoDBDocumentClient,
  input: SettleInput & { result: Record<string, unknown>; with?: readonly AtomicWrite[] },
): Promise<JobWriteResult> {
  return settleJob(ddb, {
    ...input,
    to: 'done',
    set: { updatedAt: iso(input.clock.now()), result: input.result },
    remove: ['error'],
  });
}

export function failJob(
  ddb: DynamoDBDocumentClient,
  input: SettleInput & { error: string },
): Promise<JobWriteResult> {
  return settleJob(ddb, {
    ...input,
    to: 'failed',
    set: { updatedAt: iso(input.clock.now()), error: input.error.slice(0, 500) },
    remove: [],
  });
}

/**
 * A duplicate delivery found this job failed: reset it to a fresh generation so it runs again, and
 * put the message back in the sweep index. Guarded on `failed` and the generation seen, so two
 * duplicates reset it once.
 */
export async function resetFailedJob(
  ddb: DynamoDBDocumentClient,
  input: { table: string; job: Job; clock: Clock },
): Promise<Job | undefined> {
  const { job } = input;
  if (job.generation >= MAX_JOB_GENERATIONS) return undefined;
  const now = input.clock.now();
  const generation = job.generation + 1;
  const result = await conditionalUpdate(ddb, {
    table: input.table,
    key: messageKey(job.messageId),
    ...keepSwept(job.messageId, now + PENDING_GRACE_SECONDS * 1000),
    within: [
      {
        path: jobEntry(job.jobType),
        set: { status: 'pending', generation, attempts: 0, updatedAt: iso(now) },
        remove: ['error'],
      },
    ],
    conditions: [
      jobGuard(
        (j) => `${j(job.jobType, 'status')} = :failed AND ${j(job.jobType, 'generation')} = :gen`,
        { ':failed': 'failed', ':gen': job.generation },
      ),
    ],
  });
  return result.applied ? { ...job, status: 'pending', generation, attempts: 0 } : undefined;
}

/**
 * The recovery sweep's write for one message: stale running jobs (lease expired as seen) back to
 * pending, and the next look set (or the sweep keys dropped when nothing is left to watch), guarded
 * on every job's state and the look time as seen, so a job that moved meanwhile is never missed.
 */
export async function rescheduleMessage(
  ddb: DynamoDBDocumentClient,
  input: {
    table: string;
    message: Record<string, unknown>;
    staleReset: readonly Job[];
    nextLook?: number;
    now: number;
  },
): Promise<boolean> {
  const messageId = String(input.message.messageId);
  const jobs = jobsOf(input.message);
  const stale = jobs.filter((job) => input.staleReset.some((s) => s.jobType === job.jobType));
  const values: Record<string, unknown> = { ':seenAt': input.message.sweepAt };
  const asSeen = jobGuard((j) => {
    const guards = ['sweepAt = :seenAt'];
    for (const job of jobs) {
      values[`:st_${job.jobType}`] = job.status;
      guards.push(`${j(job.jobType, 'status')} = :st_${job.jobType}`);
    }
    for (const job of stale) {
      values[`:exp_${job.jobType}`] = job.leaseExpiresAt;
      guards.push(`${j(job.jobType, LEASE_EXPIRES_AT)} = :exp_${job.jobType}`);
    }
    return guards.join(' AND ');
  }, values);
  const result = await conditionalUpdate(ddb, {
    table: input.table,
    key: messageKey(messageId),
    ...(input.nextLook === undefined
      ? { remove: ['sweepPk', 'sweepAt'] }
      : { set: { sweepAt: iso(input.nextLook) } }),
    within: stale.map((job) => ({
      path: jobEntry(job.jobType),
      set: { status: 'pending', updatedAt: iso(input.now) },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
    })),
    conditions: [asSeen],
  });
  return result.applied;
}

/** When the recovery sweep should next look at a job, if it should at all. */
export function nextLookFor(job: JobState): number | undefined {
  if (job.status === 'pending') return Date.parse(job.updatedAt) + PENDING_GRACE_SECONDS * 1000;
  if (job.status === 'running') return job.leaseExpiresAt ?? Date.parse(job.updatedAt);
  return undefined;
}
