/**
 * The jobs context's items: the only place a key string of jobs is built or parsed, the typed
 * records, and their parsers from raw items.
 *
 * Jobs live inside an item another context owns (the message item's `jobs` map, conversations'):
 * that context hands its key and its parser in (`JobHostItems`), so jobs never spell a key of
 * another context. What jobs own, and spell here:
 * - the `jobs` map of the host item: `jobs.<type>` = status, attempts, generation, lease, updatedAt;
 * - the sparse sweep index keys of the host, while any job is pending or running:
 *   `sweepPk = JOBSWEEP#<shard>`, `sweepAt` = when to look again;
 * - the records a job writes beside its host, in the host's partition:
 *   `<host pk> / INTERACTION#<type>#<run>` (an AI interaction).
 */
import type { Item } from '../kernel/put-once.js';
import { sha256Hex } from '../kernel/secrets.js';

export const JOB_TYPES = ['lead_match', 'ai_triage'] as const;
export type JobType = (typeof JOB_TYPES)[number];
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

/**
 * The sweep index is sharded so no partition key takes more than its share of the index writes
 * (two per message with jobs: entering and leaving; docs/scale.md has the arithmetic).
 */
export const SWEEP_SHARDS = 64;
/** The keys-only index of the inbound table the recovery schedule queries. */
export const JOB_SWEEP_INDEX = 'jobsweep';

/** A table key (a type, not an interface, so it is an `Item` where the kernel takes one). */
export type Key = { readonly pk: string; readonly sk: string };

const INTERACTION_PREFIX = 'INTERACTION#';

export const keys = {
  sweepShard: (shard: number) => `JOBSWEEP#${shard}`,
  /** The sweep shard of a host: a hash of its message id, so shards fill evenly. */
  sweepShardOf(messageId: string): string {
    return keys.sweepShard(Number.parseInt(sha256Hex(messageId).slice(0, 4), 16) % SWEEP_SHARDS);
  },
  /** A record a job writes beside its host item, in the host's partition. */
  interaction: (host: Key, jobType: JobType, run: string): Key => ({
    pk: host.pk,
    sk: `${INTERACTION_PREFIX}${jobType}#${run}`,
  }),
  isInteraction: (key: Key) => key.sk.startsWith(INTERACTION_PREFIX),
};

/** What a job's work answered, kept on its entry: a few scalars (labels, ids, counts). */
export type JobResult = Readonly<Record<string, string | number | boolean>>;

/** One entry of the host item's `jobs` map. */
export interface JobState {
  readonly status: JobStatus;
  readonly attempts: number;
  readonly generation: number;
  readonly updatedAt: string;
  readonly leaseOwner?: string;
  readonly leaseExpiresAt?: number;
  readonly error?: string;
  readonly result?: JobResult;
}

export type JobsMap = Readonly<Partial<Record<JobType, JobState>>>;

/** What jobs read of the item they live in. */
export interface JobHost {
  readonly tenantId: string;
  readonly messageId: string;
  readonly jobs: JobsMap;
  /**
   * The item holds no `jobs` attribute at all (an inbound claim not filed yet), as opposed to a
   * map whose entries none parsed (a job type since retired): the sweep drops the former from its
   * index only while it still has none (`job-store.ts` reschedule), the latter at once.
   */
  readonly jobless?: boolean;
  /** Set while a job may need the recovery sweep's look (the sparse index's sort key). */
  readonly sweepAt?: string;
}

/** Where a host item lives and how it reads: handed in by the context that owns it. */
export interface JobHostItems<H extends JobHost> {
  key(messageId: string): Key;
  /** The host, or undefined when the item is not one (or not one yet). */
  parse(item: Item): H | undefined;
}

/** A job as read: its map entry with the identity it lives under. */
export interface Job extends JobState {
  readonly tenantId: string;
  readonly messageId: string;
  readonly jobType: JobType;
  readonly source: string;
}

/**
 * Body of a jobs-queue message (the doorbell): the host and the job types to run, just enough to
 * find them; the host item holds the truth. One ring a message: all its types on filing, the reset
 * ones on a duplicate, the due or stale ones from recovery.
 */
export interface JobRing {
  readonly tenantId: string;
  readonly messageId: string;
  readonly jobTypes: readonly JobType[];
}

/** The types named, each once, in the order their work runs (`JOB_TYPES`: lead_match first). */
export function inRunOrder(types: readonly JobType[]): JobType[] {
  return JOB_TYPES.filter((t) => types.includes(t));
}

/** An AI interaction a job recorded (model, tokens, latency, source), written with its `done`. */
export interface InteractionRecord {
  readonly jobType: JobType;
  readonly run: string;
  readonly interactionId: string;
  readonly tenantId: string;
  readonly messageId: string;
  readonly source: string;
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly latencyMs: number;
  readonly label: string;
  readonly createdAt: string;
}

export const jobSource = (type: JobType) => `background_job:${type}`;
export const iso = (ms: number) => new Date(ms).toISOString();

const isJobType = (t: string): t is JobType => (JOB_TYPES as readonly string[]).includes(t);
const STATUSES: ReadonlySet<string> = new Set(['pending', 'running', 'done', 'failed']);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function scalars(raw: Record<string, unknown>): JobResult {
  return Object.fromEntries(
    Object.entries(raw).filter(
      (entry): entry is [string, string | number | boolean] =>
        typeof entry[1] === 'string' ||
        typeof entry[1] === 'number' ||
        typeof entry[1] === 'boolean',
    ),
  );
}

function parseJobState(raw: unknown): JobState | undefined {
  if (!isObject(raw) || typeof raw.status !== 'string' || !STATUSES.has(raw.status))
    return undefined;
  const optional = {
    leaseOwner: str(raw.leaseOwner),
    leaseExpiresAt: num(raw.leaseExpiresAt),
    error: str(raw.error),
    result: isObject(raw.result) ? scalars(raw.result) : undefined,
  };
  return {
    status: raw.status as JobStatus,
    attempts: num(raw.attempts) ?? 0,
    generation: num(raw.generation) ?? 1,
    updatedAt: str(raw.updatedAt) ?? '',
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
  };
}

/** The `jobs` map of a raw host item (types and entries it does not know are left out). */
export function parseJobs(raw: unknown): JobsMap {
  if (!isObject(raw)) return {};
  const jobs: Partial<Record<JobType, JobState>> = {};
  for (const [type, entry] of Object.entries(raw)) {
    const state = isJobType(type) ? parseJobState(entry) : undefined;
    if (state && isJobType(type)) jobs[type] = state;
  }
  return jobs;
}

/** The jobs of a host item, one per type, in the order the item holds them. */
export function jobsOf(host: JobHost | undefined): Job[] {
  if (!host) return [];
  return Object.entries(host.jobs).flatMap(([jobType, state]) =>
    state && isJobType(jobType)
      ? [
          {
            ...state,
            tenantId: host.tenantId,
            messageId: host.messageId,
            jobType,
            source: jobSource(jobType),
          },
        ]
      : [],
  );
}

/** A pending job nobody picked up within this long is re-enqueued by the recovery schedule. */
export const PENDING_GRACE_SECONDS = 120;

/** What a new host item carries for its jobs (nothing for a host without jobs). */
export interface JobsAttributes {
  readonly jobs?: JobsMap;
  readonly sweepPk?: string;
  readonly sweepAt?: string;
}

/** The attributes a new host item carries for its jobs (none for a message without jobs). */
export function newJobsAttributes(
  messageId: string,
  types: readonly JobType[],
  now: number,
): JobsAttributes {
  if (types.length === 0) return {};
  const state: JobState = { status: 'pending', attempts: 0, generation: 1, updatedAt: iso(now) };
  return {
    jobs: Object.fromEntries(types.map((t) => [t, state])),
    ...pendingSweepKeys(messageId, now),
  };
}

/**
 * The sweep keys of a host whose jobs are created at `now`: its shard, and a first look once the
 * pending grace is over. The same `now` always gives the same keys, so a write that sets them
 * again where they already stand moves nothing in the (keys-only) index and is charged nothing
 * for it: the inbound claim puts them before routing, and the filing transaction, which replaces
 * the claim, keeps them (`store-message.ts`).
 */
export function pendingSweepKeys(
  messageId: string,
  now: number,
): Required<Pick<JobsAttributes, 'sweepPk' | 'sweepAt'>> {
  return {
    sweepPk: keys.sweepShardOf(messageId),
    sweepAt: iso(now + PENDING_GRACE_SECONDS * 1000),
  };
}

/** The stored item of an interaction record beside its host. */
export function interactionItem(host: Key, record: InteractionRecord): Item {
  const { jobType, run, ...fields } = record;
  return { ...keys.interaction(host, jobType, run), kind: 'interaction', ...fields };
}

/** An interaction record from its stored item, or undefined when the item is not one. */
export function parseInteraction(item: Item): InteractionRecord | undefined {
  const sk = str(item.sk);
  if (item.kind !== 'interaction' || !sk?.startsWith(INTERACTION_PREFIX)) return undefined;
  const [type = '', ...run] = sk.slice(INTERACTION_PREFIX.length).split('#');
  if (!isJobType(type)) return undefined;
  return {
    jobType: type,
    run: run.join('#'),
    interactionId: str(item.interactionId) ?? '',
    tenantId: str(item.tenantId) ?? '',
    messageId: str(item.messageId) ?? '',
    source: str(item.source) ?? '',
    model: str(item.model) ?? '',
    promptTokens: num(item.promptTokens) ?? 0,
    completionTokens: num(item.completionTokens) ?? 0,
    totalTokens: num(item.totalTokens) ?? 0,
    latencyMs: num(item.latencyMs) ?? 0,
    label: str(item.label) ?? '',
    createdAt: str(item.createdAt) ?? '',
  };
}
