/**
 * Post-processing jobs: at most one per `(message, type)`, structurally: each job is an entry of the
 * host item's `jobs` map (`jobs.<type>` = status, attempts, generation, lease, updatedAt), written
 * in the same put as the message, so a message can never exist without its jobs and a duplicate's
 * failed put returns their states with the message (no extra read). The queue only rings the bell,
 * once for all the jobs of a message it names: the consumer claims every named job that is
 * claimable in one write (the kernel's `claimLease` on their map entries, one owner and expiry),
 * works them one after another, and settles them all in one write.
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
import { claimLease, LEASE_EXPIRES_AT, LEASE_OWNER, leaseHeldByEach } from '../kernel/lease.js';
import { queryAll, queryItems } from '../kernel/paginate.js';
import type { Item } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import type { Condition } from '../kernel/update-expression.js';
import {
  type InteractionRecord,
  inRunOrder,
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

/** What a ring needs of each job it names. */
export type RingJob = Pick<Job, 'tenantId' | 'messageId' | 'jobType' | 'generation' | 'attempts'>;

/**
 * The queue message (the ring) for jobs of one message. Its FIFO deduplication identity is each
 * named job's identity with its generation and attempts, so an enqueue retried by the same step is
 * dropped by SQS, while a reset (new generation) or a recovery of a crashed run (attempts moved on)
 * is a new message.
 */
export function jobMessage(jobs: readonly RingJob[]): FifoMessage {
  const first = jobs[0];
  if (!first || jobs.some((j) => j.messageId !== first.messageId))
    throw new Error('a ring names jobs of one message');
  const named = inRunOrder(jobs.map((j) => j.jobType)).map(
    (type) => jobs.find((j) => j.jobType === type) as RingJob,
  );
  const body: JobRing = {
    tenantId: first.tenantId,
    messageId: first.messageId,
    jobTypes: named.map((j) => j.jobType),
  };
  return {
    body,
    groupId: first.messageId,
    identity: `jobs:${first.messageId}:${named.map((j) => `${j.jobType}:g${j.generation}:a${j.attempts}`).join('+')}`,
  };
}

/** Rings the jobs given: one queue message per message, naming its jobs among them. */
export async function enqueueJobs(
  sqs: SQSClient,
  queueUrl: string,
  jobs: readonly RingJob[],
): Promise<void> {
  const byMessage = new Map<string, RingJob[]>();
  for (const job of jobs)
    byMessage.set(job.messageId, [...(byMessage.get(job.messageId) ?? []), job]);
  if (byMessage.size > 0) await enqueueFifo(sqs, queueUrl, [...byMessage.values()].map(jobMessage));
}

/** When the recovery sweep should next look at a job, if it should at all. */
export function nextLookFor(job: JobState): number | undefined {
  if (job.status === 'pending') return Date.parse(job.updatedAt) + PENDING_GRACE_SECONDS * 1000;
  if (job.status === 'running') return job.leaseExpiresAt ?? Date.parse(job.updatedAt);
  return undefined;
}

export type JobClaim<H extends JobHost> =
  /** `jobs`: the jobs this claim took (running, under one lease), in run order. */
  | { readonly claimed: true; readonly message: H; readonly jobs: readonly Job[] }
  /** None of the named jobs was claimable: `jobs` are the named ones as they stood. */
  | { readonly claimed: false; readonly jobs: readonly Job[] };

/** How one claimed job's run ended: done with its result (and records), or failed. */
export type JobSettlement =
  | {
      readonly jobType: JobType;
      readonly to: 'done';
      readonly result: JobResult;
      /** Written in the same transaction (the AI interaction). */
      readonly records?: readonly InteractionRecord[];
    }
  | { readonly jobType: JobType; readonly to: 'failed'; readonly error: string };

/** What settling the jobs of one claim needs: their ends, the lease holder, the host as claimed. */
export interface SettleInput<H extends JobHost> {
  readonly messageId: string;
  readonly owner: string;
  readonly now: number;
  readonly message: H;
  readonly settlements: readonly JobSettlement[];
}

/** Which jobs the settle wrote, and which it found no longer this owner's (taken over). */
export interface SettleResult {
  readonly settled: readonly JobType[];
  readonly lost: readonly JobType[];
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
   * Claims the jobs a ring names for one run each: every one that is pending, failed with attempts
   * left, or running under an expired lease (its worker crashed). Moves them to `running`, counts
   * an attempt each and takes one lease for all, in one conditional update that answers with the
   * whole host (the work's input). When a named job is not claimable (done, or held by a live
   * lease), the refusal's item says which are, and those are claimed in one more write.
   */
  claim(input: {
    ring: JobRing;
    owner: string;
    leaseSeconds: number;
    now: number;
  }): Promise<JobClaim<H>>;
  /**
   * `running → done | failed` for every job settled, only while this owner holds its lease, in one
   * write; `records` commit in the same transaction. A job taken over meanwhile is left to its new
   * holder (`lost`), the others are still settled.
   */
  settle(input: SettleInput<H>): Promise<SettleResult>;
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

/**
 * The claim's condition on each named type: the host is the tenant's, and each entry exists and is
 * pending, running (its lease is checked beside: `claimLease`) or failed with attempts left.
 */
function claimableGuard(tenantId: string, types: readonly JobType[]): Condition {
  return jobGuard(
    (job) =>
      [
        'tenantId = :tenant',
        ...types.map((t) => {
          const st = job(t, 'status');
          return `attribute_exists(${st}) AND (${st} = :pending OR ${st} = :running OR (${st} = :failed AND ${job(t, 'attempts')} < :max))`;
        }),
      ].join(' AND '),
    {
      ':tenant': tenantId,
      ':pending': 'pending',
      ':running': 'running',
      ':failed': 'failed',
      ':max': MAX_JOB_ATTEMPTS,
    },
  );
}

/** Every one of `types` is running (whose lease it is: `leaseHeldByEach`). */
const runningGuard = (types: readonly JobType[]) =>
  jobGuard((job) => types.map((t) => `${job(t, 'status')} = :running`).join(' AND '), {
    ':running': 'running',
  });

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

/**
 * Whether a write settling `settling` (each to done or failed) leaves every job of the host settled,
 * the others as `seen`: then that write leaves the sweep index, guarded on `others` still being
 * settled (a job reset or re-claimed meanwhile keeps the host in the index).
 */
export function sweepExit(
  seen: JobHost | undefined,
  settling: readonly JobType[],
): { readonly leave: boolean; readonly others: readonly JobType[] } {
  const others = jobsOf(seen).filter((j) => !settling.includes(j.jobType));
  return {
    leave: others.every((j) => TERMINAL.has(j.status)),
    others: others.map((j) => j.jobType),
  };
}

/** Whether a job's entry may be claimed by `owner` at `now` (the claim's condition, per type). */
function claimable(job: JobState, owner: string, now: number): boolean {
  const stateOk =
    job.status === 'pending' ||
    job.status === 'running' ||
    (job.status === 'failed' && job.attempts < MAX_JOB_ATTEMPTS);
  const leaseFree =
    job.leaseExpiresAt === undefined || job.leaseExpiresAt <= now || job.leaseOwner === owner;
  return stateOk && leaseFree;
}

/**
 * The named types a claim by `owner` at `now` may still take in the host as it stood (the item a
 * refused claim answers with): the claim's own condition read off the item, type by type, in run
 * order. A host of another tenant, or none, has none.
 */
export function claimableTypes(
  host: JobHost | undefined,
  ring: Pick<JobRing, 'tenantId' | 'jobTypes'>,
  owner: string,
  now: number,
): JobType[] {
  if (!host || host.tenantId !== ring.tenantId) return [];
  return inRunOrder(ring.jobTypes).filter((type) => {
    const job = host.jobs[type];
    return job !== undefined && claimable(job, owner, now);
  });
}

/** The types of `settling` the host shows still running under `owner`'s lease. */
function stillHeld(host: JobHost | undefined, types: readonly JobType[], owner: string) {
  return types.filter((type) => {
    const job = host?.jobs[type];
    return job?.status === 'running' && job.leaseOwner === owner;
  });
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
    let types = inRunOrder(ring.jobTypes);
    let seen: H | undefined;
    // Each refused write leaves fewer types to try (those the refusal shows claimable), so this
    // ends: one write as a rule, two when a named job was done or held, never more than one a type.
    while (types.length > 0) {
      const claim = await claimLease(this.ddb, {
        table: this.table,
        key: this.host.key(ring.messageId),
        owner: input.owner,
        leaseSeconds: input.leaseSeconds,
        clock: { now: () => now },
        atEach: types.map(jobEntry),
        set: { status: 'running', updatedAt: iso(now) },
        increment: 'attempts',
        update: keepSwept(ring.messageId, expiresAt),
        also: claimableGuard(ring.tenantId, types),
      });
      if (claim.claimed) {
        const message = this.parsed(claim.item);
        const claimed = types.map((type) => jobsOf(message).find((j) => j.jobType === type));
        if (!message || claimed.some((job) => job === undefined))
          throw new Error(`claimed jobs ${types.join(',')} of ${ring.messageId} are missing`);
        return { claimed: true, message, jobs: claimed as Job[] };
      }
      seen = this.parsed(claim.current);
      const rest = claimableTypes(seen, ring, input.owner, now);
      // The item as it stood would have passed: nothing this claim can read explains the refusal.
      if (rest.length === types.length) break;
      types = rest;
    }
    const named = new Set(ring.jobTypes);
    return { claimed: false, jobs: jobsOf(seen).filter((j) => named.has(j.jobType)) };
  }

  /**
   * One write for every job settled: each `running → done | failed`, only by the lease holder,
   * releasing its lease; records (the interaction) in the same transaction. When every other job
   * is settled too, the same write leaves the sweep index, guarded on those states. If the write is
   * refused, its item says why: a job taken over is left out (its records too) and the rest
   * written again; another job that moved is written again knowing it.
   */
  async settle(input: SettleInput<H>): Promise<SettleResult> {
    const hostKey = this.host.key(input.messageId);
    const lost: JobType[] = [];
    let settling = inRunOrder(input.settlements.map((s) => s.jobType)).map(
      (type) => input.settlements.find((s) => s.jobType === type) as JobSettlement,
    );
    let seen: H | undefined = input.message;
    for (let attempt = 0; attempt < 5; attempt++) {
      const types = settling.map((s) => s.jobType);
      if (types.length === 0) return { settled: [], lost };
      const exit = sweepExit(seen, types);
      const records = settling
        .flatMap((s) => (s.to === 'done' ? (s.records ?? []) : []))
        .map((record, i) => ({
          label: i === 0 ? 'interaction' : `interaction:${i}`,
          put: {
            table: this.table,
            item: interactionItem(hostKey, record),
            condition: 'attribute_not_exists(pk)',
          },
        }));
      // A transaction conflict (a merge moving this message meanwhile) is retried: failing the
      // settle would throw both jobs' finished work away and run them again.
      const out = await retryOnConflict(() =>
        conditionalUpdateWith(this.ddb, {
          label: 'jobs',
          table: this.table,
          key: hostKey,
          within: settling.map((s) => ({
            path: jobEntry(s.jobType),
            set:
              s.to === 'done'
                ? { status: 'done', updatedAt: iso(input.now), result: s.result }
                : { status: 'failed', updatedAt: iso(input.now), error: s.error.slice(0, 500) },
            remove: [LEASE_OWNER, LEASE_EXPIRES_AT, ...(s.to === 'done' ? ['error'] : [])],
          })),
          ...(exit.leave ? { remove: ['sweepPk', 'sweepAt'] } : {}),
          conditions: [
            runningGuard(types),
            leaseHeldByEach(input.owner, types.map(jobEntry)),
            ...(exit.leave && exit.others.length > 0 ? [settledGuard(exit.others)] : []),
          ],
          with: records,
        }),
      );
      if (out.applied) return { settled: types, lost };
      // A record's own condition refused the transaction (an interaction of this run already
      // there): nothing of it was written, and the jobs are still this run's. The record fails, so
      // the ring comes again rather than the jobs waiting for their leases to run out.
      if (out.failed !== 'jobs') {
        throw new Error(`the settle of ${input.messageId} was refused by its ${out.failed} record`);
      }
      const current = this.parsed(out.current);
      const held = stillHeld(current, types, input.owner);
      lost.push(...types.filter((t) => !held.includes(t)));
      settling = settling.filter((s) => held.includes(s.jobType));
      seen = current;
    }
    throw new Error(`jobs of ${input.messageId} kept changing under us`);
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
