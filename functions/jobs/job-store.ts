/**
 * Post-processing jobs: at most one per `(message, type)`, structurally: each job is an entry of the
 * host item's `jobs` map (`jobs.<type>` = status, attempts, generation, lease, updatedAt), written
 * in the same put as the message, so a message can never exist without its jobs and a duplicate's
 * failed put returns their states with the message (no extra read). The queue only rings the bell:
 * the consumer claims the job (the kernel's `claimLease` on its map entry) before working.
 *
 * The port (`JobStore`) and its DynamoDB adapter (`DynamoDbJobStore`). The host item belongs to
 * another context (the message, conversations'), which hands its key and parser in
 * (`JobHostItems`); every write here goes through the kernel (`claimLease`, `conditionalUpdate`,
 * `writeAtomically`).
 *
 * States: `pending → running → done | failed`. A failed job is retried by SQS redelivery while
 * `attempts < MAX_JOB_ATTEMPTS`; a duplicate delivery of its message resets it (`failed → pending`,
 * a new generation) and it runs again. While any job is pending or running the host carries the
 * sparse `sweep` index keys (`sweepPk = JOBSWEEP#<shard>`, `sweepAt` = when to look again) that
 * the recovery schedule queries; the write that leaves every job done or failed drops them, guarded
 * on the other jobs' states it saw, so a concurrent change to another job is never swept away.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalUpdate, conditionalUpdateWith } from '../kernel/conditional-update.js';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';
import { claimLease, LEASE_EXPIRES_AT, LEASE_OWNER, leaseHeldBy } from '../kernel/lease.js';
import { queryAll, queryItems } from '../kernel/paginate.js';
import type { Item } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import type { Condition } from '../kernel/update-expression.js';
import {
  type InteractionRecord,
  interactionItem,
  iso,
  JOB_SWEEP_INDEX,
  type Job,
  type JobHost,
  type JobHostItems,
  type JobResult,
  type JobRing,
  type JobState,
  type JobType,
  jobsOf,
  keys,
  PENDING_GRACE_SECONDS,
  parseInteraction,
} from './items.js';

/** Attempts per generation before a job stays failed until its message is delivered again. */
export const MAX_JOB_ATTEMPTS = 3;
/**
 * Generations a job may have: a duplicate delivery of its message resets a failed job to a new
 * generation only below this, so a duplicate storm cannot run a failing job forever
 * (at most MAX_JOB_ATTEMPTS × MAX_JOB_GENERATIONS runs in all).
 */
export const MAX_JOB_GENERATIONS = 3;

const TERMINAL: ReadonlySet<string> = new Set(['done', 'failed']);

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

/** When the recovery sweep should next look at a job, if it should at all. */
export function nextLookFor(job: JobState): number | undefined {
  if (job.status === 'pending') return Date.parse(job.updatedAt) + PENDING_GRACE_SECONDS * 1000;
  if (job.status === 'running') return job.leaseExpiresAt ?? Date.parse(job.updatedAt);
  return undefined;
}

export type JobWriteResult<H extends JobHost> =
  | { readonly applied: true }
  | { readonly applied: false; readonly current?: H };

export type JobClaim<H extends JobHost> =
  | { readonly claimed: true; readonly message: H; readonly job: Job }
  | { readonly claimed: false; readonly job?: Job };

/** What settling a job needs: the job, the lease holder, and the host as claimed. */
export interface SettleInput<H extends JobHost> {
  readonly ring: JobRing;
  readonly owner: string;
  readonly now: number;
  readonly message: H;
}

/** The message, its jobs and its records, as one strongly consistent read answers them. */
export interface HostPartition<H extends JobHost> {
  readonly message?: H;
  readonly jobs: Job[];
  readonly interactions: InteractionRecord[];
}

/** The jobs context's store (the port). */
export interface JobStore<H extends JobHost> {
  /**
   * Claims a job for one run: pending, failed with attempts left, or running under an expired
   * lease (its worker crashed). Moves it to `running`, counts the attempt and takes the lease, in
   * one conditional update that answers with the whole host (the work's input).
   */
  claim(input: {
    ring: JobRing;
    owner: string;
    leaseSeconds: number;
    now: number;
  }): Promise<JobClaim<H>>;
  /** `running → done`, only by the lease holder; `records` commit in the same transaction. */
  complete(
    input: SettleInput<H> & {
      result: JobResult;
      records?: readonly InteractionRecord[];
    },
  ): Promise<JobWriteResult<H>>;
  /** `running → failed`, only by the lease holder. */
  fail(input: SettleInput<H> & { error: string }): Promise<JobWriteResult<H>>;
  /**
   * A duplicate delivery found this job failed: reset it to a fresh generation so it runs again,
   * and put the host back in the sweep index. Guarded on `failed` and the generation seen, so two
   * duplicates reset it once.
   */
  resetFailed(job: Job, now: number): Promise<Job | undefined>;
  /**
   * The recovery sweep's write for one host: stale running jobs (lease expired as seen) back to
   * pending, and the next look set (or the sweep keys dropped when nothing is left to watch),
   * guarded on every job's state and the look time as seen, so a job that moved meanwhile is never
   * missed.
   */
  reschedule(input: {
    message: H;
    staleReset: readonly Job[];
    nextLook?: number;
    now: number;
  }): Promise<boolean>;
  /** The host, its jobs and its records in one strongly consistent query. */
  readPartition(messageId: string): Promise<HostPartition<H>>;
  /**
   * Hosts of one sweep shard due by `now`, each read strongly consistently from the base table
   * (the index holds keys only and may be behind: it never decides anything). At most `max`.
   */
  dueForSweep(shard: number, now: number, max: number): AsyncIterable<H>;
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
  values: Item = {},
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

/** The sweep keys a host carries while a job may need looking at; `sweepAt` kept if earlier. */
const keepSwept = (messageId: string, lookAt: number) => ({
  set: { sweepPk: keys.sweepShardOf(messageId) },
  setIfAbsent: { sweepAt: iso(lookAt) },
});

/** The other job types of the host that are done or failed in `message`, and whether all are. */
function othersSettled(message: JobHost | undefined, type: JobType) {
  const others = jobsOf(message).filter((j) => j.jobType !== type);
  return {
    others: others.map((j) => j.jobType),
    settled: others.every((j) => TERMINAL.has(j.status)),
  };
}

export class DynamoDbJobStore<H extends JobHost> implements JobStore<H> {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly host: JobHostItems<H>,
  ) {}

  private parsed(item: Item | undefined): H | undefined {
    return item ? this.host.parse(item) : undefined;
  }

  async claim(input: {
    ring: JobRing;
    owner: string;
    leaseSeconds: number;
    now: number;
  }): Promise<JobClaim<H>> {
    const { ring, now } = input;
    // One instant for the lease and the sweep look, so the look is exactly the lease's expiry.
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
    const claim = await claimLease(this.ddb, {
      table: this.table,
      key: this.host.key(ring.messageId),
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
      const job = jobsOf(this.parsed(claim.current)).find((j) => j.jobType === ring.jobType);
      return { claimed: false, ...(job ? { job } : {}) };
    }
    const message = this.parsed(claim.item);
    const job = jobsOf(message).find((j) => j.jobType === ring.jobType);
    if (!message || !job)
      throw new Error(`claimed job ${ring.jobType} of ${ring.messageId} is missing`);
    return { claimed: true, message, job };
  }

  complete(
    input: SettleInput<H> & {
      result: JobResult;
      records?: readonly InteractionRecord[];
    },
  ): Promise<JobWriteResult<H>> {
    return this.settle({
      ...input,
      to: 'done',
      set: { updatedAt: iso(input.now), result: input.result },
      remove: ['error'],
      records: input.records ?? [],
    });
  }

  fail(input: SettleInput<H> & { error: string }): Promise<JobWriteResult<H>> {
    return this.settle({
      ...input,
      to: 'failed',
      set: { updatedAt: iso(input.now), error: input.error.slice(0, 500) },
      remove: [],
      records: [],
    });
  }

  /**
   * `running → done | failed`, only by the lease holder, releasing the lease; records (e.g. the
   * interaction) go in the same transaction. When every other job is settled too, the same write
   * leaves the sweep index, guarded on those states; if another job moved meanwhile, it is written
   * again knowing that.
   */
  private async settle(
    input: SettleInput<H> & {
      to: 'done' | 'failed';
      set: Item;
      remove: readonly string[];
      records: readonly InteractionRecord[];
    },
  ): Promise<JobWriteResult<H>> {
    const { ring } = input;
    const held = leaseHeldBy(input.owner, jobEntry(ring.jobType));
    const running = jobGuard((job) => `${job(ring.jobType, 'status')} = :running`, {
      ':running': 'running',
    });
    const hostKey = this.host.key(ring.messageId);
    const records = input.records.map((record, i) => ({
      label: i === 0 ? 'interaction' : `interaction:${i}`,
      put: {
        table: this.table,
        item: interactionItem(hostKey, record),
        condition: 'attribute_not_exists(pk)',
      },
    }));
    let seen: H | undefined = input.message;
    for (let attempt = 0; attempt < 5; attempt++) {
      const { others, settled } = othersSettled(seen, ring.jobType);
      const out = await conditionalUpdateWith(this.ddb, {
        label: 'job',
        table: this.table,
        key: hostKey,
        within: [
          {
            path: jobEntry(ring.jobType),
            set: { ...input.set, status: input.to },
            remove: [LEASE_OWNER, LEASE_EXPIRES_AT, ...input.remove],
          },
        ],
        ...(settled ? { remove: ['sweepPk', 'sweepAt'] } : {}),
        conditions: [
          running,
          held,
          ...(settled && others.length > 0 ? [settledGuard(others)] : []),
        ],
        with: records,
      });
      if (out.applied) return { applied: true };
      // A record's own condition refused the transaction: nothing of it was written.
      if (out.failed !== 'job') return { applied: false };
      const current = this.parsed(out.current);
      const result: JobWriteResult<H> = { applied: false, ...(current ? { current } : {}) };
      // Still ours and running: only the guard on the other jobs failed; write again knowing them.
      const job = jobsOf(current).find((j) => j.jobType === ring.jobType);
      if (!settled || job?.status !== 'running' || job.leaseOwner !== input.owner) return result;
      seen = current;
    }
    throw new Error(`job ${ring.jobType} of ${ring.messageId} kept changing under us`);
  }

  async resetFailed(job: Job, now: number): Promise<Job | undefined> {
    if (job.generation >= MAX_JOB_GENERATIONS) return undefined;
    const generation = job.generation + 1;
    const result = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: this.host.key(job.messageId),
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

  async reschedule(input: {
    message: H;
    staleReset: readonly Job[];
    nextLook?: number;
    now: number;
  }): Promise<boolean> {
    const jobs = jobsOf(input.message);
    const stale = jobs.filter((job) => input.staleReset.some((s) => s.jobType === job.jobType));
    const values: Item = { ':seenAt': input.message.sweepAt };
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
    const result = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: this.host.key(input.message.messageId),
      ...(input.nextLook === undefined
        ? { remove: ['sweepPk', 'sweepAt'] }
        : { set: { sweepAt: iso(input.nextLook) } }),
      within: stale.map((job) => ({
        path: jobEntry(job.jobType),
        set: { status: 'pending', updatedAt: iso(input.now) },
        remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
      })),
      conditions: [
        asSeen,
        // A host seen with no jobs attribute (an inbound claim whose delivery has not filed it yet:
        // it carries the sweep keys from its claim) leaves the index only while it still has none.
        // The filing keeps the claim's `sweepAt`, so `sweepAt` alone would let a sweep that read
        // the claim take a just-filed message with pending jobs out of the index.
        ...(input.message.jobless
          ? [{ expression: 'attribute_not_exists(#hostJobs)', names: { '#hostJobs': 'jobs' } }]
          : []),
      ],
    });
    return result.applied;
  }

  async readPartition(messageId: string): Promise<HostPartition<H>> {
    const hostKey = this.host.key(messageId);
    const items = await queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': hostKey.pk },
      ConsistentRead: true,
    });
    const message = this.parsed(items.find((i) => i.sk === hostKey.sk));
    return {
      ...(message ? { message } : {}),
      jobs: jobsOf(message),
      interactions: items.flatMap((i) => {
        const record = parseInteraction(i);
        return record ? [record] : [];
      }),
    };
  }

  async *dueForSweep(shard: number, now: number, max: number): AsyncIterable<H> {
    const due = queryItems(
      this.ddb,
      {
        TableName: this.table,
        IndexName: JOB_SWEEP_INDEX,
        KeyConditionExpression: 'sweepPk = :pk AND sweepAt <= :now',
        ExpressionAttributeValues: { ':pk': keys.sweepShard(shard), ':now': iso(now) },
      },
      { pageSize: 100, maxItems: max },
    );
    for await (const key of due) {
      const host = this.parsed(await readItem(this.ddb, this.table, { pk: key.pk, sk: key.sk }));
      if (host?.sweepAt !== undefined) yield host;
    }
  }
}
