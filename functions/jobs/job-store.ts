/**
 * Post-processing jobs: at most one per `(message, type)`, structurally: each job is an entry of the
 * message item's `jobs` map (`jobs.<type>` = status, attempts, generation, lease, updatedAt), written
 * in the same put as the message, so a message can never exist without its jobs and a duplicate's
 * failed put returns their states with the message (no extra read). The queue only rings the bell:
 * the consumer claims the job (a conditional update on its map entry) before working.
 *
 * States: `pending → running → done | failed`. A failed job is retried by SQS redelivery while
 * `attempts < MAX_JOB_ATTEMPTS`; a duplicate delivery of its message resets it (`failed → pending`,
 * a new generation) and it runs again. While any job is pending or running the message item carries
 * the sparse `sweep` index keys (`sweepPk = JOBSWEEP#<shard>`, `sweepAt` = when to look again) that
 * the recovery schedule queries; the write that leaves every job done or failed drops them, guarded
 * on the other jobs' states it saw, so a concurrent change to another job is never swept away.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import type { Clock } from '../kernel/clock.js';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';
import { LEASE_EXPIRES_AT, LEASE_OWNER } from '../kernel/lease.js';
import { sha256Hex } from '../kernel/secrets.js';

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

// --- writes on one job's map entry ---------------------------------------------------------------

/** Names and values for an update of `jobs.<type>`; `#j.#t.<attr>` is the job's path. */
class JobUpdate {
  readonly names: Record<string, string> = { '#j': 'jobs' };
  readonly values: Record<string, unknown> = {};
  readonly sets: string[] = [];
  readonly removes: string[] = [];
  readonly conditions: string[] = [];

  /** `type`: the job `#t` names; without it, only other jobs' paths (`path(attr, type)`) are used. */
  constructor(type?: JobType) {
    if (type) this.names['#t'] = type;
  }

  path(attr: string, type?: JobType): string {
    const n = `#${attr}`;
    this.names[n] = attr;
    if (!type) return `#j.#t.${n}`;
    this.names[`#o_${type}`] = type;
    return `#j.#o_${type}.${n}`;
  }

  value(name: string, value: unknown): string {
    this.values[`:${name}`] = value;
    return `:${name}`;
  }

  set(attr: string, value: unknown): this {
    this.sets.push(`${this.path(attr)} = ${this.value(attr, value)}`);
    return this;
  }

  /** Adds the sweep keys: `sweepAt` only when absent, so an earlier look already due is kept. */
  keepSwept(messageId: string, lookAt: number): this {
    this.sets.push(
      `sweepPk = ${this.value('spk', sweepShard(messageId))}`,
      `sweepAt = if_not_exists(sweepAt, ${this.value('sat', iso(lookAt))})`,
    );
    return this;
  }

  /** Drops the sweep keys, guarded on every other job being done or failed as seen. */
  unswept(others: readonly JobType[]): this {
    this.removes.push('sweepPk', 'sweepAt');
    this.value('done', 'done');
    this.value('failed', 'failed');
    for (const other of others) {
      const st = this.path('status', other);
      this.conditions.push(`(${st} = :done OR ${st} = :failed)`);
    }
    return this;
  }

  expression(): string {
    return [
      ...(this.sets.length > 0 ? [`SET ${this.sets.join(', ')}`] : []),
      ...(this.removes.length > 0 ? [`REMOVE ${this.removes.join(', ')}`] : []),
    ].join(' ');
  }

  condition(): string {
    return this.conditions.join(' AND ');
  }
}

export type JobWriteResult =
  | { readonly applied: true; readonly item?: Record<string, unknown> }
  | { readonly applied: false; readonly current?: Record<string, unknown> };

async function updateJob(
  ddb: DynamoDBDocumentClient,
  table: string,
  messageId: string,
  update: JobUpdate,
  returnNew = false,
): Promise<JobWriteResult> {
  try {
    const out = await ddb.send(
      new UpdateCommand({
        TableName: table,
        Key: messageKey(messageId),
        UpdateExpression: update.expression(),
        ConditionExpression: update.condition(),
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: update.values,
        ...(returnNew ? { ReturnValues: 'ALL_NEW' as const } : {}),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { applied: true, ...(out.Attributes ? { item: out.Attributes } : {}) };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return { applied: false, ...(error.Item ? { current: unmarshall(error.Item) } : {}) };
    }
    throw error;
  }
}

export type JobClaim =
  | { readonly claimed: true; readonly message: Record<string, unknown>; readonly job: Job }
  | { readonly claimed: false; readonly job?: Job };

/**
 * Claims a job for one run: pending, failed with attempts left, or running under an expired lease
 * (its worker crashed). Moves it to `running`, counts the attempt and takes the lease, all in one
 * conditional update of its map entry, which answers with the whole message item (the work's input).
 */
export async function claimJob(
  ddb: DynamoDBDocumentClient,
  input: { table: string; ring: JobRing; owner: string; leaseSeconds: number; clock: Clock },
): Promise<JobClaim> {
  const { ring } = input;
  const now = input.clock.now();
  const expiresAt = now + input.leaseSeconds * 1000;
  const u = new JobUpdate(ring.jobType)
    .set('status', 'running')
    .set(LEASE_OWNER, input.owner)
    .set(LEASE_EXPIRES_AT, expiresAt)
    .set('updatedAt', iso(now))
    .keepSwept(ring.messageId, expiresAt);
  const attempts = u.path('attempts');
  u.sets.push(`${attempts} = ${attempts} + ${u.value('one', 1)}`);
  const st = u.path('status');
  const exp = u.path(LEASE_EXPIRES_AT);
  const owner = u.path(LEASE_OWNER);
  u.value('nowMs', now);
  u.value('owner', input.owner);
  u.value('tenant', ring.tenantId);
  u.value('pending', 'pending');
  u.value('running', 'running');
  u.value('failed', 'failed');
  u.value('max', MAX_JOB_ATTEMPTS);
  u.conditions.push(
    'tenantId = :tenant',
    `attribute_exists(${st})`,
    `(attribute_not_exists(${exp}) OR ${exp} <= :nowMs OR ${owner} = :owner)`,
    `(${st} = :pending OR ${st} = :running OR (${st} = :failed AND ${attempts} < :max))`,
  );
  const result = await updateJob(ddb, input.table, ring.messageId, u, true);
  if (!result.applied) {
    const job = jobsOf(result.current).find((j) => j.jobType === ring.jobType);
    return { claimed: false, ...(job ? { job } : {}) };
  }
  const message = result.item ?? {};
  const job = jobsOf(message).find((j) => j.jobType === ring.jobType);
  if (!job) throw new Error(`claimed job ${ring.jobType} of ${ring.messageId} is missing`);
  return { claimed: true, message, job };
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
 * `running → done | failed`, only by the lease holder; extra writes (e.g. the interaction) go in the
 * same transaction. When every other job is settled too, the same write leaves the sweep index,
 * guarded on those states; if another job moved meanwhile, it is written again knowing that.
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
  let seen: Record<string, unknown> | undefined = input.message;
  for (let attempt = 0; attempt < 5; attempt++) {
    const u = new JobUpdate(input.ring.jobType).set('status', input.to);
    for (const [attr, value] of Object.entries(input.set)) u.set(attr, value);
    for (const attr of [LEASE_OWNER, LEASE_EXPIRES_AT, ...input.remove])
      u.removes.push(u.path(attr));
    const st = u.path('status');
    u.value('running', 'running');
    u.value('owner', input.owner);
    u.conditions.push(`${st} = :running`, `${u.path(LEASE_OWNER)} = :owner`);
    const { others, settled } = othersSettled(seen, input.ring.jobType);
    if (settled) u.unswept(others);
    let result: JobWriteResult & { failed?: string };
    if (input.with && input.with.length > 0) {
      const out = await writeAtomically(ddb, [
        {
          label: 'job',
          update: {
            table: input.table,
            key: messageKey(input.ring.messageId),
            update: u.expression(),
            condition: u.condition(),
            names: u.names,
            values: u.values,
          },
        },
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
      result = await updateJob(ddb, input.table, input.ring.messageId, u);
    }
    if (result.applied) return result;
    // Still ours and running: only the guard on the other jobs failed; write again knowing them.
    const job = jobsOf(result.current).find((j) => j.jobType === input.ring.jobType);
    if (!settled || job?.status !== 'running' || job.leaseOwner !== input.owner) return result;
    seen = result.current;
  }
  throw new Error(`job ${input.ring.jobType} of ${input.ring.messageId} kept changing under us`);
}

export function completeJob(
  ddb: DynamoDBDocumentClient,
  input: {
    table: string;
    ring: JobRing;
    owner: string;
    clock: Clock;
    message: Record<string, unknown>;
    result: Record<string, unknown>;
    with?: readonly AtomicWrite[];
  },
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
  input: {
    table: string;
    ring: JobRing;
    owner: string;
    clock: Clock;
    message: Record<string, unknown>;
    error: string;
  },
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
  if (input.job.generation >= MAX_JOB_GENERATIONS) return undefined;
  const now = input.clock.now();
  const generation = input.job.generation + 1;
  const u = new JobUpdate(input.job.jobType)
    .set('status', 'pending')
    .set('generation', generation)
    .set('attempts', 0)
    .set('updatedAt', iso(now))
    .keepSwept(input.job.messageId, now + PENDING_GRACE_SECONDS * 1000);
  u.removes.push(u.path('error'));
  u.value('failed', 'failed');
  u.value('gen', input.job.generation);
  u.conditions.push(`${u.path('status')} = :failed`, `${u.path('generation')} = :gen`);
  const result = await updateJob(ddb, input.table, input.job.messageId, u);
  return result.applied ? { ...input.job, status: 'pending', generation, attempts: 0 } : undefined;
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
  const u = new JobUpdate();
  u.conditions.push(`sweepAt = ${u.value('seenAt', input.message.sweepAt)}`);
  for (const job of jobsOf(input.message)) {
    const st = u.path('status', job.jobType);
    u.conditions.push(`${st} = ${u.value(`st_${job.jobType}`, job.status)}`);
    if (!input.staleReset.some((s) => s.jobType === job.jobType)) continue;
    const exp = u.path(LEASE_EXPIRES_AT, job.jobType);
    u.conditions.push(`${exp} = ${u.value(`exp_${job.jobType}`, job.leaseExpiresAt)}`);
    u.sets.push(
      `${st} = ${u.value('pending', 'pending')}`,
      `${u.path('updatedAt', job.jobType)} = ${u.value('now', iso(input.now))}`,
    );
    u.removes.push(u.path(LEASE_OWNER, job.jobType), exp);
  }
  if (input.nextLook === undefined) u.removes.push('sweepPk', 'sweepAt');
  else u.sets.push(`sweepAt = ${u.value('next', iso(input.nextLook))}`);
  const result = await updateJob(ddb, input.table, messageId, u);
  return result.applied;
}

/** When the recovery sweep should next look at a job, if it should at all. */
export function nextLookFor(job: JobState): number | undefined {
  if (job.status === 'pending') return Date.parse(job.updatedAt) + PENDING_GRACE_SECONDS * 1000;
  if (job.status === 'running') return job.leaseExpiresAt ?? Date.parse(job.updatedAt);
  return undefined;
}
