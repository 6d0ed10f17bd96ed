/**
 * The recovery schedule: DynamoDB is the truth, SQS is a doorbell, and this re-rings the bell for
 * work whose message is gone. It reads only the sparse `sweep` index: active campaigns under
 * `CAMPAIGNS#ACTIVE`, and per campaign shard the recipients that are due (`sweepAt <= now`):
 *
 * - `pending`, enqueued long ago (or the sends queue is empty, e.g. the emulator restarted):
 *   rung again with a new ring number, so the deduplication id is new;
 * - `sending` with no wamid, lease expired, reconciliation window passed with no status webhook:
 *   released for one more try, recorded (`unknownRetries`, `lastError`); a second unknown
 *   outcome ends `failed` rather than risk a duplicate;
 * - fan-out shards that stopped before their end are rung again;
 * - a running campaign with nothing pending or sending and fan-out done is completed.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  paginateQuery,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Clock, isoTime } from '../kernel/clock.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';
import { LEASE_EXPIRES_AT, LEASE_OWNER } from '../kernel/lease.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import { transition } from '../kernel/transition.js';
import { countedTransition, counterWrite, readTotals } from './counters.js';
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
  campaignKey,
  type RecipientItem,
  SHARDS,
  shardOf,
  sweepPartition,
} from './model.js';

export const COMPLETED_CAMPAIGNS = 'CAMPAIGNS#COMPLETED';

export const FP_RECOVER_AFTER_RELEASE = defineFailpoint(
  'campaign.recover.after-release',
  'a recipient released (or re-rung) by recovery, its send message not yet enqueued',
);
export const FP_RECOVER_AFTER_ENQUEUE = defineFailpoint(
  'campaign.recover.after-enqueue',
  'recovery re-enqueued a shard’s due recipients, the next shard not yet looked at',
);

/** Unknown outcomes retried at most this many times; then the contact ends `failed`. */
export const MAX_UNKNOWN_RETRIES = 1;
const ITEMS_PER_SHARD_RUN = 1000;
const SHARD_CONCURRENCY = 8;
const FANOUT_STALE_MS = 60_000;

export interface RecoveryDeps extends FanoutDeps {
  readonly clock: Clock;
  readonly leaseSeconds: number;
  readonly reconcileWindowSeconds: number;
  readonly messagesPerSecond: (tenantId: string) => Promise<number>;
  /** True when the sends queue holds no message at all (visible or in flight). */
  readonly sendsQueueIsEmpty: () => Promise<boolean>;
}

export interface RecoveryReport {
  campaigns: number;
  rerung: number;
  released: number;
  failedUnknown: number;
  fanoutRerung: number;
  completed: number;
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
    failedUnknown: 0,
    fanoutRerung: 0,
    completed: 0,
  };
  const active = await listSweepCampaigns(deps, ACTIVE_CAMPAIGNS);
  if (active.length === 0) return report;
  const queueEmpty = await deps.sendsQueueIsEmpty();
  for (const listed of active) {
    report.campaigns += 1;
    try {
      await recoverCampaign(deps, listed, queueEmpty, report);
    } catch (error) {
      logger.error('campaign recovery failed; next run retries', {
        campaignId: listed.campaignId,
        error,
      });
      if ((error as Error).name === 'FailpointCrashError') throw error;
    }
  }
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
  const stale = [...Array(SHARDS).keys()].filter((shard) => {
    const p = progress.get(shard);
    if (p?.done) return false;
    const since = p?.updatedAt ?? listed.startedAt ?? listed.createdAt;
    return Date.parse(since) + FANOUT_STALE_MS <= now;
  });
  if (running && stale.length > 0) {
    report.fanoutRerung += await ringFanout(
      deps,
      listed,
      `r${Math.floor(now / FANOUT_STALE_MS)}`,
      stale,
    );
  }
  const rate = await deps.messagesPerSecond(tenantId);
  const totalsBefore = await readTotals(deps.ddb, deps.table, tenantId, campaignId);
  const horizonMs = pendingHorizonMs(totalsBefore.pending, rate);
  // With an empty queue no pending recipient has a live message: every enqueued one is due now.
  const cutoff = running && queueEmpty ? '9999' : new Date(now).toISOString();

  let nextShard = 0;
  await Promise.all(
    Array.from({ length: SHARD_CONCURRENCY }, async () => {
      while (nextShard < SHARDS) {
        const shard = nextShard++;
        await recoverShard(deps, listed, shard, cutoff, horizonMs, running, report);
      }
    }),
  );

  if (!running) return;
  const totals = await readTotals(deps.ddb, deps.table, tenantId, campaignId);
  const fanoutDone = [...Array(SHARDS).keys()].every((shard) => progress.get(shard)?.done);
  if (fanoutDone && totals.pending === 0 && totals.sending === 0) {
    const at = isoTime(deps.clock);
    const done = await transition(deps.ddb, {
      table: deps.table,
      key: campaignKey(tenantId, campaignId),
      from: ['running'],
      to: 'completed',
      // Kept in the sweep index one more while: the counter reconciliation checks it once more.
      set: { completedAt: at, updatedAt: at, sweepPk: COMPLETED_CAMPAIGNS, sweepAt: at },
    });
    if (done.applied) report.completed += 1;
  }
}

async function recoverShard(
  deps: RecoveryDeps,
  campaign: CampaignItem,
  shard: number,
  cutoff: string,
  horizonMs: number,
  running: boolean,
  report: RecoveryReport,
): Promise<void> {
  const { tenantId, campaignId } = campaign;
  const messages: FifoMessage[] = [];
  let start: Record<string, unknown> | undefined;
  let seen = 0;
  do {
    const out: QueryCommandOutput = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.table,
        IndexName: 'sweep',
        KeyConditionExpression: 'sweepPk = :p AND sweepAt <= :cut',
        ExpressionAttributeValues: {
          ':p': sweepPartition(tenantId, campaignId, shard),
          ':cut': cutoff,
        },
        Limit: 200,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    start = out.LastEvaluatedKey;
    for (const item of (out.Items ?? []) as RecipientItem[]) {
      seen += 1;
      const ring = await handleDue(deps, item, horizonMs, running, report);
      if (ring !== undefined && running) {
        messages.push(sendMessage(tenantId, campaignId, item.phone, `r${ring}`));
      }
    }
  } while (start && seen < ITEMS_PER_SHARD_RUN);
  if (messages.length > 0) {
    failpoint(FP_RECOVER_AFTER_RELEASE);
    await enqueueFifo(deps.sqs, deps.sendsQueueUrl, messages);
    failpoint(FP_RECOVER_AFTER_ENQUEUE);
  }
}

/** Handles one due recipient; returns the ring number to enqueue, if it should be rung. */
async function handleDue(
  deps: RecoveryDeps,
  item: RecipientItem,
  horizonMs: number,
  running: boolean,
  report: RecoveryReport,
): Promise<number | undefined> {
  const now = deps.clock.now();
  const nowIso = new Date(now).toISOString();
  const key = { pk: item.pk, sk: item.sk };
  const nextSweepAt = new Date(now + horizonMs).toISOString();
  if (item.status === 'pending') {
    if (!running) return undefined;
    if (item.retryAt && item.retryAt > nowIso) return undefined;
    try {
      const out = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: key,
          UpdateExpression:
            'SET sweepAt = :next, ring = if_not_exists(ring, :zero) + :one REMOVE retryAt',
          ConditionExpression: '#st = :pending AND sweepAt = :seen',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: {
            ':next': nextSweepAt,
            ':zero': 0,
            ':one': 1,
            ':pending': 'pending',
            ':seen': item.sweepAt,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      report.rerung += 1;
      return Number(out.Attributes?.ring ?? 1);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
  if (item.status === 'sending') {
    if (item.providerMessageId) return undefined;
    const windowEnds =
      Date.parse(item.sendingSince ?? item.updatedAt) + deps.reconcileWindowSeconds * 1000;
    if ((item.leaseExpiresAt ?? 0) > now || windowEnds > now) return undefined;
    const retries = item.unknownRetries ?? 0;
    const giveUp = retries >= MAX_UNKNOWN_RETRIES;
    const shard = shardOf(item.phone);
    const result = await countedTransition(deps.ddb, {
      table: deps.table,
      key,
      from: ['sending'],
      to: giveUp ? 'failed' : 'pending',
      set: giveUp
        ? {
            lastError: `outcome unknown after ${retries + 1} attempts with no evidence; not retried again`,
            updatedAt: nowIso,
          }
        : {
            lastError: `outcome unknown: no status within ${deps.reconcileWindowSeconds}s; retried once`,
            unknownRetries: retries + 1,
            ring: (item.ring ?? 0) + 1,
            sweepAt: nextSweepAt,
            updatedAt: nowIso,
          },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT, ...(giveUp ? ['sweepPk', 'sweepAt'] : [])],
      also: {
        condition: 'attribute_not_exists(#pmid) AND #since = :since AND #lexp <= :now',
        names: {
          '#pmid': 'providerMessageId',
          '#since': 'sendingSince',
          '#lexp': LEASE_EXPIRES_AT,
        },
        values: { ':since': item.sendingSince, ':now': now },
      },
      with: [
        counterWrite(deps.table, item.tenantId, item.campaignId, shard, {
          sending: -1,
          [giveUp ? 'failed' : 'pending']: 1,
        }),
      ],
    });
    if (!result.applied) return undefined;
    if (giveUp) {
      report.failedUnknown += 1;
      countMetric('CampaignUnknownOutcomeFailed');
      return undefined;
    }
    report.released += 1;
    countMetric('CampaignUnknownOutcomeRetried');
    return (item.ring ?? 0) + 1;
  }
  // Anything else should not be in the index any more: tidy it away.
  await deps.ddb
    .send(
      new UpdateCommand({
        TableName: deps.table,
        Key: key,
        UpdateExpression: 'REMOVE sweepPk, sweepAt',
        ConditionExpression: '#st = :st',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: { ':st': item.status },
      }),
    )
    .catch((error: unknown) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
  return undefined;
}
