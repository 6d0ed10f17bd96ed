/**
 * One claim and one settle for all the jobs a ring names (issue 25), without a network: the
 * claim-subset logic (a named job done or held by a live lease → the rest claimed in one more write,
 * chosen from the refusal's item) and the settle's sweep-key guard (the write that leaves every job
 * settled leaves the sweep index, guarded on the other jobs' states as seen; a job taken over is
 * left to its new holder). The store runs against a scripted DynamoDB client that records each
 * request and answers as DynamoDB would (ALL_NEW on success, ALL_OLD on a failed condition); the
 * same paths run against DynamoDB Local in `test/integration/jobs/`.
 */
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  claimableTypes,
  DynamoDbJobStore,
  type InteractionRecord,
  type JobHost,
  type JobHostItems,
  type JobState,
  type JobType,
  MAX_JOB_ATTEMPTS,
  parseJobs,
  sweepExit,
} from '../../functions/jobs/index.js';
import type { Item } from '../../functions/kernel/put-once.js';

const NOW = Date.parse('2026-12-07T10:00:00.000Z');
const TENANT = 't-1';
const MESSAGE = 'm_00000000000000000000000000000001';

const state = (over: Partial<JobState> = {}): JobState => ({
  status: 'pending',
  attempts: 0,
  generation: 1,
  updatedAt: new Date(NOW - 1000).toISOString(),
  ...over,
});

const hostWith = (jobs: Partial<Record<JobType, JobState>>, tenantId = TENANT): JobHost => ({
  tenantId,
  messageId: MESSAGE,
  jobs,
});

const hostItems: JobHostItems<JobHost> = {
  key: (messageId) => ({ pk: `MSG#${messageId}`, sk: 'MSG' }),
  parse: (item) =>
    typeof item.tenantId === 'string' && typeof item.messageId === 'string'
      ? {
          tenantId: item.tenantId,
          messageId: item.messageId,
          jobs: parseJobs(item.jobs),
          ...(typeof item.sweepAt === 'string' ? { sweepAt: item.sweepAt } : {}),
        }
      : undefined,
};

const itemOf = (host: JobHost): Item => ({
  ...hostItems.key(host.messageId),
  tenantId: host.tenantId,
  messageId: host.messageId,
  jobs: host.jobs,
  sweepPk: 'JOBSWEEP#1',
  sweepAt: new Date(NOW).toISOString(),
});

interface Sent {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

/** A DynamoDB document client whose answers are scripted, one per request, in order. */
function scriptedDdb(answers: ReadonlyArray<(input: Record<string, unknown>) => unknown>) {
  const sent: Sent[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const answer = answers[sent.length];
      sent.push({ command: command.constructor.name, input: command.input });
      if (!answer)
        throw new Error(`unexpected request ${sent.length}: ${command.constructor.name}`);
      return answer(command.input);
    },
  };
  return { ddb: client as unknown as DynamoDBDocumentClient, sent };
}

/** The conditional update succeeded: DynamoDB answers with the item as it now is. */
const applied = (host: JobHost) => () => ({ Attributes: itemOf(host) });
/** The condition failed: DynamoDB answers with the item as it stood (ALL_OLD). */
const refused = (host: JobHost) => () => {
  throw new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    Item: marshall(itemOf(host), { removeUndefinedValues: true }),
  });
};

/** The job types whose map entries a request names (its `#t_<type>` and lease placeholders). */
function typesNamed(input: Record<string, unknown>): string[] {
  const names = Object.values((input.ExpressionAttributeNames ?? {}) as Record<string, string>);
  return ['lead_match', 'ai_triage'].filter((t) => names.includes(t));
}

const claimInput = (jobTypes: readonly JobType[]) => ({
  ring: { tenantId: TENANT, messageId: MESSAGE, jobTypes },
  owner: 'me',
  leaseSeconds: 60,
  now: NOW,
});

describe('claimableTypes: what a refused claim may still take, read off the item as it stood', () => {
  const ring = { tenantId: TENANT, jobTypes: ['ai_triage', 'lead_match'] as JobType[] };

  it('leaves out a done job and keeps a pending one, in run order (lead_match first)', () => {
    expect(
      claimableTypes(
        hostWith({ lead_match: state({ status: 'done' }), ai_triage: state() }),
        ring,
        'me',
        NOW,
      ),
    ).toEqual(['ai_triage']);
    expect(
      claimableTypes(hostWith({ lead_match: state(), ai_triage: state() }), ring, 'me', NOW),
    ).toEqual(['lead_match', 'ai_triage']);
  });

  it('a running job is claimable only once its lease expired, or when the lease is this owner’s', () => {
    const running = (owner: string, expiresAt: number) =>
      state({ status: 'running', attempts: 1, leaseOwner: owner, leaseExpiresAt: expiresAt });
    const live = hostWith({ lead_match: running('other', NOW + 1), ai_triage: state() });
    expect(claimableTypes(live, ring, 'me', NOW)).toEqual(['ai_triage']);
    const expired = hostWith({ lead_match: running('other', NOW), ai_triage: state() });
    expect(claimableTypes(expired, ring, 'me', NOW)).toEqual(['lead_match', 'ai_triage']);
    const mine = hostWith({ lead_match: running('me', NOW + 60_000) });
    expect(claimableTypes(mine, ring, 'me', NOW)).toEqual(['lead_match']);
  });

  it('a failed job only with attempts left; a job the host lacks, or another tenant’s host, never', () => {
    const failed = (attempts: number) => state({ status: 'failed', attempts });
    expect(
      claimableTypes(
        hostWith({ lead_match: failed(MAX_JOB_ATTEMPTS - 1), ai_triage: failed(MAX_JOB_ATTEMPTS) }),
        ring,
        'me',
        NOW,
      ),
    ).toEqual(['lead_match']);
    expect(claimableTypes(hostWith({ ai_triage: state() }), ring, 'me', NOW)).toEqual([
      'ai_triage',
    ]);
    expect(claimableTypes(hostWith({ ai_triage: state() }, 't-2'), ring, 'me', NOW)).toEqual([]);
    expect(claimableTypes(undefined, ring, 'me', NOW)).toEqual([]);
  });
});

describe('sweepExit: the settle that leaves every job settled leaves the sweep index', () => {
  const jobs = (lead: JobState['status']) =>
    hostWith({ lead_match: state({ status: lead }), ai_triage: state({ status: 'running' }) });

  it('settling every job: leave, with no other job to guard', () => {
    expect(sweepExit(jobs('running'), ['lead_match', 'ai_triage'])).toEqual({
      leave: true,
      others: [],
    });
  });

  it('settling one while the other is done or failed: leave, guarded on the other', () => {
    expect(sweepExit(jobs('done'), ['ai_triage'])).toEqual({ leave: true, others: ['lead_match'] });
    expect(sweepExit(jobs('failed'), ['ai_triage'])).toEqual({
      leave: true,
      others: ['lead_match'],
    });
  });

  it('settling one while the other is pending or running: stay in the index', () => {
    expect(sweepExit(jobs('pending'), ['ai_triage']).leave).toBe(false);
    expect(sweepExit(jobs('running'), ['ai_triage']).leave).toBe(false);
  });
});

describe('DynamoDbJobStore.claim: one write for every claimable job of the ring', () => {
  it('both jobs pending: one conditional update claims both under one owner and expiry', async () => {
    // Prepare
    const after = hostWith({
      lead_match: state({
        status: 'running',
        attempts: 1,
        leaseOwner: 'me',
        leaseExpiresAt: NOW + 60_000,
      }),
      ai_triage: state({
        status: 'running',
        attempts: 1,
        leaseOwner: 'me',
        leaseExpiresAt: NOW + 60_000,
      }),
    });
    const { ddb, sent } = scriptedDdb([applied(after)]);
    const store = new DynamoDbJobStore(ddb, 'inbound', hostItems);
    // Act
    const claim = await store.claim(claimInput(['ai_triage', 'lead_match']));
    // Assess
    expect(sent).toHaveLength(1);
    expect(sent[0]?.command).toBe('UpdateCommand');
    expect(typesNamed(sent[0]?.input ?? {})).toEqual(['lead_match', 'ai_triage']);
    const condition = String(sent[0]?.input.ConditionExpression);
    // Each entry's lease must be free, and each entry claimable.
    expect(condition.match(/#exp <= :now/g)).toHaveLength(2);
    expect(condition.match(/attribute_exists\(#jobs\.#t_/g)).toHaveLength(2);
    expect(claim.claimed && claim.jobs.map((j) => j.jobType)).toEqual(['lead_match', 'ai_triage']);
  });

  it('lead_match already done: the refusal’s item shows it, and one more write claims ai_triage alone', async () => {
    // Prepare
    const before = hostWith({
      lead_match: state({ status: 'done', attempts: 1 }),
      ai_triage: state(),
    });
    const after = hostWith({
      lead_match: state({ status: 'done', attempts: 1 }),
      ai_triage: state({
        status: 'running',
        attempts: 1,
        leaseOwner: 'me',
        leaseExpiresAt: NOW + 60_000,
      }),
    });
    const { ddb, sent } = scriptedDdb([refused(before), applied(after)]);
    const store = new DynamoDbJobStore(ddb, 'inbound', hostItems);
    // Act
    const claim = await store.claim(claimInput(['lead_match', 'ai_triage']));
    // Assess
    expect(sent.map((s) => typesNamed(s.input))).toEqual([
      ['lead_match', 'ai_triage'],
      ['ai_triage'],
    ]);
    expect(claim.claimed).toBe(true);
    expect(claim.claimed && claim.jobs.map((j) => [j.jobType, j.status])).toEqual([
      ['ai_triage', 'running'],
    ]);
  });

  it('nothing claimable (one done, one held by a live lease): one write, skipped, the jobs as they stood', async () => {
    const held = state({
      status: 'running',
      attempts: 1,
      leaseOwner: 'other',
      leaseExpiresAt: NOW + 1,
    });
    const before = hostWith({
      lead_match: state({ status: 'done', attempts: 1 }),
      ai_triage: held,
    });
    const { ddb, sent } = scriptedDdb([refused(before)]);
    const claim = await new DynamoDbJobStore(ddb, 'inbound', hostItems).claim(
      claimInput(['lead_match', 'ai_triage']),
    );
    expect(sent).toHaveLength(1);
    expect(claim.claimed).toBe(false);
    expect(claim.jobs.map((j) => `${j.jobType}:${j.status}`)).toEqual([
      'lead_match:done',
      'ai_triage:running',
    ]);
  });

  it('the subset claim loses a race too: it stops once the refusal leaves nothing claimable', async () => {
    const before = hostWith({
      lead_match: state({ status: 'done', attempts: 1 }),
      ai_triage: state(),
    });
    const taken = hostWith({
      lead_match: state({ status: 'done', attempts: 1 }),
      ai_triage: state({
        status: 'running',
        attempts: 1,
        leaseOwner: 'other',
        leaseExpiresAt: NOW + 60_000,
      }),
    });
    const { ddb, sent } = scriptedDdb([refused(before), refused(taken)]);
    const claim = await new DynamoDbJobStore(ddb, 'inbound', hostItems).claim(
      claimInput(['lead_match', 'ai_triage']),
    );
    expect(sent).toHaveLength(2);
    expect(claim.claimed).toBe(false);
  });
});

/** The AI interaction ai_triage's done carries (its own item, put in the settle's transaction). */
const interaction = (): InteractionRecord => ({
  jobType: 'ai_triage',
  run: 'g1a1',
  interactionId: 'i-1',
  tenantId: TENANT,
  messageId: MESSAGE,
  source: 'background_job:ai_triage',
  model: 'gpt-4o-mini',
  promptTokens: 1,
  completionTokens: 1,
  totalTokens: 2,
  latencyMs: 5,
  label: 'question',
  createdAt: new Date(NOW).toISOString(),
});

describe('DynamoDbJobStore.settle: one write for every job the claim took', () => {
  const running = (owner = 'me') =>
    state({ status: 'running', attempts: 1, leaseOwner: owner, leaseExpiresAt: NOW + 60_000 });
  const settleInput = (message: JobHost, types: readonly JobType[]) => ({
    messageId: MESSAGE,
    owner: 'me',
    now: NOW,
    message,
    settlements: types.map((jobType) => ({ jobType, to: 'done' as const, result: { ok: true } })),
  });
  const condition = (s: Sent | undefined) => String(s?.input.ConditionExpression);
  /** The settle names the sweep keys only to remove them. */
  const leavesIndex = (s: Sent | undefined) =>
    String(s?.input.UpdateExpression).includes(' REMOVE ') ||
    String(s?.input.UpdateExpression).startsWith('REMOVE')
      ? Object.values((s?.input.ExpressionAttributeNames ?? {}) as Record<string, string>).includes(
          'sweepPk',
        )
      : false;

  it('both jobs settled in one write, which leaves the sweep index: each guarded on running under this lease', async () => {
    const seen = hostWith({ lead_match: running(), ai_triage: running() });
    const { ddb, sent } = scriptedDdb([applied(seen)]);
    const out = await new DynamoDbJobStore(ddb, 'inbound', hostItems).settle(
      settleInput(seen, ['ai_triage', 'lead_match']),
    );
    expect(out).toEqual({ settled: ['lead_match', 'ai_triage'], lost: [] });
    expect(sent).toHaveLength(1);
    expect(typesNamed(sent[0]?.input ?? {})).toEqual(['lead_match', 'ai_triage']);
    expect(leavesIndex(sent[0])).toBe(true);
    expect(condition(sent[0]).match(/#leaseOwner = :leaseOwner/g)).toHaveLength(2);
    expect(condition(sent[0]).match(/= :running/g)).toHaveLength(2);
  });

  it('settling ai_triage while lead_match is done: leaves the index, guarded on lead_match still settled', async () => {
    const seen = hostWith({
      lead_match: state({ status: 'done', attempts: 1 }),
      ai_triage: running(),
    });
    const { ddb, sent } = scriptedDdb([applied(seen)]);
    await new DynamoDbJobStore(ddb, 'inbound', hostItems).settle(settleInput(seen, ['ai_triage']));
    expect(leavesIndex(sent[0])).toBe(true);
    expect(condition(sent[0])).toContain('#jobs.#t_lead_match.#a_status = :done OR');
  });

  it('settling ai_triage while lead_match is pending: stays in the index, no guard on lead_match', async () => {
    const seen = hostWith({ lead_match: state(), ai_triage: running() });
    const { ddb, sent } = scriptedDdb([applied(seen)]);
    await new DynamoDbJobStore(ddb, 'inbound', hostItems).settle(settleInput(seen, ['ai_triage']));
    expect(leavesIndex(sent[0])).toBe(false);
    expect(condition(sent[0])).not.toContain('lead_match');
  });

  it('lead_match was reset meanwhile (the guard fails): written again knowing it, staying in the index', async () => {
    const seen = hostWith({
      lead_match: state({ status: 'failed', attempts: 3 }),
      ai_triage: running(),
    });
    const reset = hostWith({ lead_match: state({ generation: 2 }), ai_triage: running() });
    const { ddb, sent } = scriptedDdb([refused(reset), applied(reset)]);
    const out = await new DynamoDbJobStore(ddb, 'inbound', hostItems).settle(
      settleInput(seen, ['ai_triage']),
    );
    expect(out).toEqual({ settled: ['ai_triage'], lost: [] });
    expect(sent.map(leavesIndex)).toEqual([true, false]);
  });

  it('a transaction conflict on the settle (a merge moving the message meanwhile) is retried, not thrown', async () => {
    const seen = hostWith({ lead_match: running(), ai_triage: running() });
    const conflict = () => {
      throw new TransactionConflictException({ message: 'Transaction is ongoing', $metadata: {} });
    };
    const { ddb, sent } = scriptedDdb([conflict, applied(seen)]);
    const out = await new DynamoDbJobStore(ddb, 'inbound', hostItems).settle(
      settleInput(seen, ['lead_match', 'ai_triage']),
    );
    expect(out).toEqual({ settled: ['lead_match', 'ai_triage'], lost: [] });
    expect(sent).toHaveLength(2);
  });

  it('refused by its own interaction record: throws (the ring comes again), never reports the jobs lost', async () => {
    const seen = hostWith({ lead_match: running(), ai_triage: running() });
    const recordRefused = () => {
      throw new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }],
      });
    };
    const { ddb } = scriptedDdb([recordRefused]);
    const store = new DynamoDbJobStore(ddb, 'inbound', hostItems);
    await expect(
      store.settle({
        ...settleInput(seen, ['lead_match']),
        settlements: [
          { jobType: 'lead_match', to: 'done', result: { ok: true } },
          {
            jobType: 'ai_triage',
            to: 'done',
            result: { ok: true },
            records: [interaction()],
          },
        ],
      }),
    ).rejects.toThrow(/refused by its interaction record/);
  });

  it('ai_triage was taken over meanwhile: lead_match is still settled, ai_triage left to its new holder', async () => {
    const seen = hostWith({ lead_match: running(), ai_triage: running() });
    const takenOver = hostWith({ lead_match: running(), ai_triage: running('other') });
    const { ddb, sent } = scriptedDdb([refused(takenOver), applied(takenOver)]);
    const out = await new DynamoDbJobStore(ddb, 'inbound', hostItems).settle(
      settleInput(seen, ['lead_match', 'ai_triage']),
    );
    expect(out).toEqual({ settled: ['lead_match'], lost: ['ai_triage'] });
    expect(typesNamed(sent[1]?.input ?? {})).toEqual(['lead_match']);
    // ai_triage is running under another lease: the host stays in the index.
    expect(leavesIndex(sent[1])).toBe(false);
  });
});
