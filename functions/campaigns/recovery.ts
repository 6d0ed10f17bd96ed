/**
 * The recovery schedule: DynamoDB is the truth, SQS is a doorbell, and this re-rings the bell for
 * work whose message is gone. It reads only the sparse `sweep` index: running campaigns under
 * `CAMPAIGNS#ACTIVE`, paused ones under `CAMPAIGNS#PAUSED`, and per campaign shard the recipients
 * that are due (`sweepAt <= now`):
 *
 * - `pending`, enqueued long ago (or the sends queue is empty, e.g. the emulator restarted), in a
 *   running campaign — found through its own entry (released for a retry, rung before) or through
 *   its fan-out page's mark (the page's recipients still pending, read strongly consistently from
 *   the page's key range): rung again with a new ring number — a new deduplication id *and its own
 *   message group*, so the new doorbell never waits behind an old one a crashed consumer still
 *   holds invisible. The doorbell is enqueued first and the recipient marked as rung after, so a
 *   crash in between only rings again next run (a doorbell is harmless: the recipient decides);
 * - `sending` with a wamid (kept by the sender when its counted move lost every race): moved to
 *   `sent` with its counters;
 * - `sending` with no wamid, lease expired, reconciliation window passed with no status webhook:
 *   the tenant's `unknownOutcome` policy decides. `hold` (default): the contact ends `unknown`,
 *   counted and listed, sent again only when an operator asks. `retry_once`: released for one
 *   more attempt, recorded (`unknownRetries`, `lastError`); a second unknown outcome is held;
 * - fan-out shards that stopped before their end are rung again;
 * - a running campaign with nothing pending or sending and fan-out done is completed.
 *
 * Campaigns are recovered a few at a time, each on its own: one failing campaign is logged and
 * the others go on. Paused campaigns only have their in-flight sends settled (a separate sweep
 * partition), so a large paused backlog costs nothing and starves nobody.
 */
import { paginateQuery, QueryCommand, type QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../kernel/clock.js';
import { isoTime } from '../kernel/clock.js';
import { forEachWithConcurrency } from '../kernel/concurrency.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';
import { LEASE_EXPIRES_AT, LEASE_OWNER } from '../kernel/lease.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import type { Condition } from '../kernel/update-expression.js';
import { completeCampaign } from './campaign-store.js';
import { countedTransition, counterWrite, readTotals } from './counters.js';
import { FP_RECOVER_AFTER_ENQUEUE, FP_RECOVER_AFTER_RELEASE } from './failpoints.js';
import {
  type FanoutDeps,
  pendingHorizonMs,
  readFanoutProgress,
  ringFanout,
  sendMessage,
} from './fanout.js';
import {
  ACTIVE_CAMPAIGNS,
  type CampaignItem,
  COMPLETED_CAMPAIGNS,
  PAUSED_CAMPAIGNS,
  type PageMark,
  pageSweepPartition,
  type RecipientItem,
  recipientPartition,
  reringGroupOf,
  SHARDS,
  STILL_PENDING,
  sendingSweepPartition,
  shardOf,
  sweepPartition,
  type UnknownOutcomePolicy,
} from './model.js';

export { COMPLETED_CAMPAIGNS };

/** Under `retry_once`, unknown outcomes retried at most this many times; then the contact is held. */
export const MAX_UNKNOWN_RETRIES = 1;
const ITEMS_PER_SHARD_RUN = 1000;
/**
 * Page marks (a strongly consistent read of up to 100 recipients each) a shard's recovery takes per
 * run; the rest wait for the next. Every page of a large campaign comes due about a horizon after
 * its fan-out: 32 shards × 100 marks × 100 recipients is 320,000 recipients a run.
 */
const PAGE_MARKS_PER_SHARD_RUN = 100;
const SHARD_CONCURRENCY = 8;
const CAMPAIGN_CONCURRENCY = 4;
const FANOUT_STALE_MS = 60_000;

export interface RecoveryDeps extends FanoutDeps {
  readonly clock: Clock;
  readonly leaseSeconds: number;
  readonly reconcileWindowSeconds: number;
  readonly messagesPerSecond: (tenantId: string) => Promise<number>;
  /** The tenant's policy for unknown outcomes. @default always 'hold' */
  readonly unknownOutcome?: (tenantId: string) => Promise<UnknownOutcomePolicy>;
  /** True when the sends queue holds no message at all (visible or in flight). */
  readonly sendsQueueIsEmpty: () => Promise<boolean>;
}

export interface RecoveryReport {
  campaigns: number;
  rerung: number;
  released: number;
  held: number;
  wamidsCompleted: number;
  fanoutRerung: number;
  completed: number;
  failedCampaigns: number;
}

export async function listSweepCampaigns(
  deps: Pick<RecoveryDeps, 'ddb' | 'table'>,
  partition: string,
): Promise<CampaignItem[]> {
  const campaigns: CampaignItem[] = [];
  const pages = paginateQuery(
    { client: deps.ddb },
    {
      TableName: deps.table,
      IndexName: 'sweep',
      KeyConditionExpression: 'sweepPk = :p',
      ExpressionAttributeValues: { ':p': partition },
    },
  );
  for await (const page of pages) campaigns.push(...((page.Items ?? []) as CampaignItem[]));
  return campaigns;
}

export async function recoverCampaigns(deps: RecoveryDeps): Promise<RecoveryReport> {
  const report: RecoveryReport = {
    campaigns: 0,
    rerung: 0,
    released: 0,
    held: 0,
    wamidsCompleted: 0,
    fanoutRerung: 0,
    completed: 0,
    failedCampaigns: 0,
  };
  const listed = [
    ...(await listSweepCampaigns(deps, ACTIVE_CAMPAIGNS)),
    ...(await listSweepCampaigns(deps, PAUSED_CAMPAIGNS)),
  ];
  if (listed.length === 0) return report;
  const queueEmpty = await deps.sendsQueueIsEmpty();
  // A simulated crash ends the invocation as a real one would (after the work in flight settled):
  // it is the one error that stops the loop; any other failure is one campaign's, the rest go on.
  await forEachWithConcurrency(listed, CAMPAIGN_CONCURRENCY, async (campaign) => {
    report.campaigns += 1;
    try {
      await recoverCampaign(deps, campaign, queueEmpty, report);
    } catch (error) {
      if (error instanceof FailpointCrashError) throw error;
      report.failedCampaigns += 1;
      countMetric('CampaignRecoveryFailed');
      logger.error('campaign recovery failed; the others go on, next run retries', {
        campaignId: campaign.campaignId,
        error,
      });
    }
  });
  return report;
}

async function recoverCampaign(
  deps: RecoveryDeps,
  listed: CampaignItem,
  queueEmpty: boolean,
  report: RecoveryReport,
): Promise<void> {
  const { tenantId, campaignId } = listed;
  const running = listed.status === 'running';
  const now = deps.clock.now();
  const generation = listed.fanoutGeneration ?? 0;
  const progress = await readFanoutProgress(deps.ddb, deps.table, tenantId, campaignId, generation);
  if (running) {
    const stale = [...Array(SHARDS).keys()].filter((shard) => {
      const p = progress.get(shard);
      if (p?.done) return false;
      const since = p?.updatedAt ?? listed.startedAt ?? listed.createdAt;
      return Date.parse(since) + FANOUT_STALE_MS <= now;
    });
    if (stale.length > 0) {
      report.fanoutRerung += await ringFanout(
        deps,
        listed,
        `r${Math.floor(now / FANOUT_STALE_MS)}`,
        stale,
      );
    }
  }
  const rate = await deps.messagesPerSecond(tenantId);
  const policy = (await deps.unknownOutcome?.(tenantId)) ?? 'hold';
  const totalsBefore = await readTotals(deps.ddb, deps.table, tenantId, campaignId);
  const horizonMs = pendingHorizonMs(totalsBefore.pending, rate);
  // With an empty queue no pending recipient has a live message: every enqueued one is due now.
  const cutoff = running && queueEmpty ? '9999' : new Date(now).toISOString();
  const context: ShardContext = { deps, campaign: listed, running, policy, horizonMs, report };

  await forEachWithConcurrency([...Array(SHARDS).keys()], SHARD_CONCURRENCY, (shard) =>
    recoverShard(context, shard, cutoff),
  );

  if (!running) return;
  const fanoutDone = [...Array(SHARDS).keys()].every((shard) => progress.get(shard)?.done);
  if (!fanoutDone) return;
  const totals = await readTotals(deps.ddb, deps.table, tenantId, campaignId);
  if (totals.pending !== 0 || totals.sending !== 0) return;
  // The counters are read item by item, so a busy moment can hide a move: the recipients
  // themselves (strongly consistent) have the last word before the campaign is closed.
  if (await anyInFlight(deps, tenantId, campaignId)) return;
  if (await completeCampaign(deps, tenantId, campaignId)) report.completed += 1;
}

/** True when some recipient is still `pending` or `sending` (strongly consistent reads). */
async function anyInFlight(
  deps: Pick<RecoveryDeps, 'ddb' | 'table'>,
  tenantId: string,
  campaignId: string,
): Promise<boolean> {
  for (let shard = 0; shard < SHARDS; shard++) {
    const pages = paginateQuery(
      { client: deps.ddb },
      {
        TableName: deps.table,
        KeyConditionExpression: 'pk = :pk',
        FilterExpression: '#st IN (:p, :s)',
        ProjectionExpression: '#st',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: {
          ':pk': recipientPartition(tenantId, campaignId, shard),
          ':p': 'pending',
          ':s': 'sending',
        },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) if ((page.Items ?? []).length > 0) return true;
  }
  return false;
}

interface ShardContext {
  readonly deps: RecoveryDeps;
  readonly campaign: CampaignItem;
  readonly running: boolean;
  readonly policy: UnknownOutcomePolicy;
  readonly horizonMs: number;
  readonly report: RecoveryReport;
}

/** A pending recipient to ring: its key, phone, ring and the `sweepAt` it was seen with. */
interface DueRing {
  readonly key: { pk: string; sk: string };
  readonly phone: string;
  readonly ring: number;
  readonly sweepAt: string | undefined;
}

/** The due items of one sweep partition: recipients (`RS#…`, `RS#…#S`) or page marks (`RS#…#P`). */
async function dueItems<T extends RecipientItem | PageMark>(
  deps: RecoveryDeps,
  partition: string,
  cutoff: string,
  visit: (item: T) => Promise<void>,
  budget = ITEMS_PER_SHARD_RUN,
): Promise<void> {
  let start: Record<string, unknown> | undefined;
  let seen = 0;
  do {
    const out: QueryCommandOutput = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.table,
        IndexName: 'sweep',
        KeyConditionExpression: 'sweepPk = :p AND sweepAt <= :cut',
        ExpressionAttributeValues: { ':p': partition, ':cut': cutoff },
        Limit: Math.min(200, budget),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    start = out.LastEvaluatedKey;
    for (const item of (out.Items ?? []) as T[]) {
      seen += 1;
      await visit(item);
    }
  } while (start && seen < budget);
}

async function recoverShard(context: ShardContext, shard: number, cutoff: string): Promise<void> {
  const { deps, campaign, running } = context;
  const { tenantId, campaignId } = campaign;
  const rings: DueRing[] = [];
  const marks: PageMark[] = [];
  const nowIso = isoTime(deps.clock);
  // In-flight sends first (running or paused): completed, held or released.
  const sending = sendingSweepPartition(tenantId, campaignId, shard);
  await dueItems<RecipientItem>(deps, sending, nowIso, async (item) => {
    const released = await settleSending(context, item);
    if (released && running) rings.push(released);
  });
  if (rings.length > 0) failpoint(FP_RECOVER_AFTER_RELEASE);
  if (running) {
    const pending = sweepPartition(tenantId, campaignId, shard);
    await dueItems<RecipientItem>(deps, pending, cutoff, async (item) => {
      const due = await duePending(context, item);
      if (due) rings.push(due);
    });
    const pages = pageSweepPartition(tenantId, campaignId, shard);
    await dueItems<PageMark>(
      deps,
      pages,
      cutoff,
      async (mark) => {
        marks.push(mark);
      },
      PAGE_MARKS_PER_SHARD_RUN,
    );
    for (const mark of marks) rings.push(...(await pageRings(context, mark)));
  }
  if (rings.length > 0) {
    const messages: FifoMessage[] = rings.map((due) => {
      const ring = `r${due.ring + 1}`;
      return {
        ...sendMessage(tenantId, campaignId, due.phone, ring),
        groupId: reringGroupOf(campaignId, due.phone, ring),
      };
    });
    await enqueueFifo(deps.sqs, deps.sendsQueueUrl, messages);
    failpoint(FP_RECOVER_AFTER_ENQUEUE);
    const nextSweepAt = new Date(deps.clock.now() + context.horizonMs).toISOString();
    for (const due of rings) {
      if (await markRung(deps, campaign, due, nextSweepAt)) context.report.rerung += 1;
    }
  }
  // Every recipient a page still held is rung and carries its own entry now: the page is done. A
  // mark newer than the campaign this run read (a resume meanwhile) waits for the next run.
  for (const mark of marks) {
    if (mark.generation <= (campaign.fanoutGeneration ?? 0))
      await leaveSweep(deps, mark, mark.sweepAt);
  }
}

/**
 * The recipients of a due page mark that are still pending and have no entry of their own: their
 * doorbell was lost (or never sent: a crash between the mark and the enqueue). Read strongly
 * consistently from the page's key range, never through the index. A mark of an older fan-out
 * generation rings nothing (the resume that began the current one rang every pending recipient);
 * one of a newer generation than the campaign this run read (a resume since) is left for the next.
 */
async function pageRings(context: ShardContext, mark: PageMark): Promise<DueRing[]> {
  const { deps, campaign } = context;
  if (mark.generation !== (campaign.fanoutGeneration ?? 0)) return [];
  const pk = recipientPartition(campaign.tenantId, campaign.campaignId, mark.shard);
  const rings: DueRing[] = [];
  const pages = paginateQuery(
    { client: deps.ddb },
    {
      TableName: deps.table,
      KeyConditionExpression: mark.through ? 'pk = :pk AND sk <= :through' : 'pk = :pk',
      FilterExpression: '#st = :pending AND attribute_not_exists(sweepPk)',
      ExpressionAttributeNames: { '#st': 'status' },
      ExpressionAttributeValues: {
        ':pk': pk,
        ':pending': 'pending',
        ...(mark.through ? { ':through': mark.through } : {}),
      },
      ConsistentRead: true,
      ...(mark.after ? { ExclusiveStartKey: { pk, sk: mark.after } } : {}),
    },
  );
  for await (const page of pages) {
    for (const item of (page.Items ?? []) as RecipientItem[]) {
      rings.push({
        key: { pk: item.pk, sk: item.sk },
        phone: item.phone,
        ring: item.ring ?? 0,
        sweepAt: undefined,
      });
    }
  }
  return rings;
}

/** A due pending recipient worth ringing (not waiting for a pair-rate retry), else undefined. */
async function duePending(
  context: ShardContext,
  item: RecipientItem,
): Promise<DueRing | undefined> {
  const nowIso = isoTime(context.deps.clock);
  if (item.status === 'pending') {
    if (item.retryAt && item.retryAt > nowIso) return undefined;
    return {
      key: { pk: item.pk, sk: item.sk },
      phone: item.phone,
      ring: item.ring ?? 0,
      sweepAt: item.sweepAt,
    };
  }
  await tidy(context.deps, item);
  return undefined;
}

/**
 * Records the ring and pushes the next look out by the horizon, if nobody moved it meanwhile. A
 * recipient rung through its page's mark gets its own entry here.
 */
async function markRung(
  deps: RecoveryDeps,
  campaign: Pick<CampaignItem, 'tenantId' | 'campaignId'>,
  due: DueRing,
  nextSweepAt: string,
): Promise<boolean> {
  const sweepPk = sweepPartition(campaign.tenantId, campaign.campaignId, shardOf(due.phone));
  const unchanged =
    due.sweepAt === undefined
      ? { expression: 'attribute_not_exists(sweepAt)', values: {} }
      : { expression: 'sweepAt = :seen', values: { ':seen': due.sweepAt } };
  const result = await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: due.key,
    set: { sweepPk, sweepAt: nextSweepAt, ring: due.ring + 1 },
    remove: ['retryAt'],
    conditions: [
      STILL_PENDING,
      {
        expression: `${unchanged.expression} AND (attribute_not_exists(ring) OR ring = :old)`,
        values: { ...unchanged.values, ':old': due.ring },
      },
    ],
  });
  return result.applied;
}

/**
 * One due `sending` recipient: a kept wamid is counted as sent; an unknown outcome past the window
 * follows the tenant's policy. Returns the recipient to ring when `retry_once` released it.
 */
async function settleSending(
  context: ShardContext,
  item: RecipientItem,
): Promise<DueRing | undefined> {
  const { deps } = context;
  if (item.status !== 'sending') {
    await tidy(deps, item);
    return undefined;
  }
  const now = deps.clock.now();
  const nowIso = new Date(now).toISOString();
  const key = { pk: item.pk, sk: item.sk };
  const shard = shardOf(item.phone);
  if (item.providerMessageId) {
    const done = await countedTransition(deps.ddb, {
      table: deps.table,
      key,
      from: ['sending'],
      to: 'sent',
      set: { updatedAt: nowIso, statusAt: nowIso },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT, 'sweepPk', 'sweepAt', 'lastError'],
      also: {
        expression: '#pmid = :pmid',
        names: { '#pmid': 'providerMessageId' },
        values: { ':pmid': item.providerMessageId },
      },
      with: [
        counterWrite(deps.table, item.tenantId, item.campaignId, shard, { sending: -1, sent: 1 }),
      ],
    });
    if (done.applied) context.report.wamidsCompleted += 1;
    return undefined;
  }
  const windowEnds =
    Date.parse(item.sendingSince ?? item.updatedAt) + deps.reconcileWindowSeconds * 1000;
  if ((item.leaseExpiresAt ?? 0) > now || windowEnds > now) return undefined;
  const retries = item.unknownRetries ?? 0;
  const release = context.policy === 'retry_once' && retries < MAX_UNKNOWN_RETRIES;
  const guard: Condition = {
    expression: 'attribute_not_exists(#pmid) AND #since = :since AND #lexp <= :now',
    names: {
      '#pmid': 'providerMessageId',
      '#since': 'sendingSince',
      '#lexp': LEASE_EXPIRES_AT,
    },
    values: { ':since': item.sendingSince, ':now': now },
  };
  if (!release) {
    const held = await countedTransition(deps.ddb, {
      table: deps.table,
      key,
      from: ['sending'],
      to: 'unknown',
      set: {
        lastError:
          `outcome unknown: no provider status within ${deps.reconcileWindowSeconds}s of attempt ` +
          `${item.attempts ?? 1}; held, not sent again unless retried (unknownOutcome: ${context.policy})`,
        updatedAt: nowIso,
      },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT, 'sweepPk', 'sweepAt'],
      also: guard,
      with: [
        counterWrite(deps.table, item.tenantId, item.campaignId, shard, {
          sending: -1,
          unknown: 1,
        }),
      ],
    });
    if (held.applied) {
      context.report.held += 1;
      countMetric('CampaignUnknownOutcomeHeld');
    }
    return undefined;
  }
  const released = await countedTransition(deps.ddb, {
    table: deps.table,
    key,
    from: ['sending'],
    to: 'pending',
    set: {
      lastError: `outcome unknown: no status within ${deps.reconcileWindowSeconds}s; retried once (unknownOutcome: retry_once)`,
      unknownRetries: retries + 1,
      // Due at once: rung in this run, or in the next if this one stops before enqueueing.
      sweepPk: sweepPartition(item.tenantId, item.campaignId, shard),
      sweepAt: nowIso,
      updatedAt: nowIso,
    },
    remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
    also: guard,
    with: [
      counterWrite(deps.table, item.tenantId, item.campaignId, shard, {
        sending: -1,
        pending: 1,
      }),
    ],
  });
  if (!released.applied) return undefined;
  context.report.released += 1;
  countMetric('CampaignUnknownOutcomeRetried');
  return { key, phone: item.phone, ring: item.ring ?? 0, sweepAt: nowIso };
}

/** Anything that should not be in the index any more: tidied away (unless it moved meanwhile). */
async function tidy(deps: RecoveryDeps, item: RecipientItem): Promise<void> {
  await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: { pk: item.pk, sk: item.sk },
    remove: ['sweepPk', 'sweepAt'],
    conditions: [
      { expression: '#st = :st', names: { '#st': 'status' }, values: { ':st': item.status } },
    ],
  });
}

/** Takes a page mark out of the index, unless the fan-out marked the page again meanwhile. */
async function leaveSweep(deps: RecoveryDeps, mark: PageMark, seen: string | undefined) {
  await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: { pk: mark.pk, sk: mark.sk },
    remove: ['sweepPk', 'sweepAt'],
    conditions: [{ expression: 'sweepAt = :seen', values: { ':seen': seen } }],
  });
}
