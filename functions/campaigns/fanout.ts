/**
 * Fan-out: turns a running campaign's pending recipients into send work, one shard per queue
 * message (so shards fan out in parallel), a page at a time:
 *
 *   mark the page as enqueued (one item with the page's key range, in the sweep index under the
 *   shard's page partition: due at `sweepAt`, the pending horizon)
 *   → enqueue one send message per pending recipient (SQS batch, deterministic deduplication ids)
 *   → save the shard's cursor.
 *
 * A crash anywhere repeats at most the current page: the mark is the same item written again, the
 * re-sent messages carry the same deduplication ids, and a sender re-reads the recipient anyway
 * (one claimed since the page was read is skipped). A page marked but never enqueued, or whose
 * doorbells were lost, is rung again by the recovery schedule once its `sweepAt` passes: the page's
 * recipients still pending are rung and marked one by one. The mark is one write a page of 100,
 * not one a recipient.
 */

import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { type Clock, isoTime } from '../kernel/clock.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { failpoint } from '../kernel/failpoints.js';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';
import { readItem } from '../kernel/read-item.js';
import type { CampaignStore } from './campaign-store.js';
import { readTotals } from './counters.js';
import {
  FP_FANOUT_AFTER_BATCH,
  FP_FANOUT_AFTER_ENQUEUE,
  FP_FANOUT_AFTER_MARK,
} from './failpoints.js';
import {
  type CampaignItem,
  campaignKey,
  type FanoutMessageBody,
  fanoutKey,
  type PageMark,
  pageMarkKey,
  pageSweepPartition,
  type RecipientItem,
  recipientPartition,
  type SendMessageBody,
  SHARDS,
  sendGroupOf,
  sendIdentity,
} from './model.js';

export interface FanoutDeps extends CampaignStore {
  readonly sqs: SQSClient;
  readonly sendsQueueUrl: string;
  readonly fanoutQueueUrl: string;
}

const PAGE_SIZE = 100;

/**
 * When a pending recipient that was enqueued is due for another look: well after the moment the
 * queue should have reached it at the tenant's rate, so the recovery schedule only re-rings
 * recipients whose message is really gone. The floor is short (a minute): it bounds how long a
 * contact whose doorbell died (a crash between marking and enqueueing, a message parked in the
 * DLQ) waits, and an early re-ring costs only a doorbell the sender drops after one read.
 */
export const MIN_PENDING_HORIZON_MS = 60_000;

export function pendingHorizonMs(pendingTotal: number, messagesPerSecond: number): number {
  return Math.max(
    MIN_PENDING_HORIZON_MS,
    Math.ceil((2 * pendingTotal * 1000) / Math.max(1, messagesPerSecond)),
  );
}

export function sendMessage(
  tenantId: string,
  campaignId: string,
  phone: string,
  ring: string,
): FifoMessage {
  const body: SendMessageBody = { tenantId, campaignId, phone };
  return {
    body,
    groupId: sendGroupOf(campaignId, phone),
    identity: sendIdentity(tenantId, campaignId, phone, ring),
  };
}

interface FanoutProgress {
  readonly cursor?: string;
  readonly done?: boolean;
  readonly seq?: number;
  readonly enqueued?: number;
  readonly updatedAt?: string;
}

export async function readFanoutProgress(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  campaignId: string,
  generation: number,
): Promise<Map<number, FanoutProgress>> {
  const out = await ddb.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: {
        ':pk': campaignKey(tenantId, campaignId).pk,
        ':prefix': `FANOUT#${generation}#`,
      },
      ConsistentRead: true,
    }),
  );
  const progress = new Map<number, FanoutProgress>();
  for (const item of out.Items ?? []) {
    progress.set(Number(String(item.sk).split('#').at(-1)), item as FanoutProgress);
  }
  return progress;
}

/**
 * Enqueues a fan-out message for every shard of the current generation not done yet. `ring`
 * separates deliberate re-rings from retries (which SQS deduplicates for five minutes).
 */
export async function ringFanout(
  deps: FanoutDeps,
  campaign: Pick<CampaignItem, 'tenantId' | 'campaignId' | 'fanoutGeneration'>,
  ring: string,
  shards?: readonly number[],
): Promise<number> {
  const generation = campaign.fanoutGeneration ?? 0;
  const progress = await readFanoutProgress(
    deps.ddb,
    deps.table,
    campaign.tenantId,
    campaign.campaignId,
    generation,
  );
  const messages: FifoMessage[] = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    if (shards && !shards.includes(shard)) continue;
    if (progress.get(shard)?.done) continue;
    const body: FanoutMessageBody = {
      tenantId: campaign.tenantId,
      campaignId: campaign.campaignId,
      generation,
      shard,
    };
    messages.push({
      body,
      // The ring is part of the group: a deliberate re-ring must not queue behind a crashed,
      // still invisible message of the same shard (the shard's cursor guard keeps two workers apart).
      groupId: `fanout.${campaign.campaignId}.${shard}.${ring}`,
      identity: `fanout|${campaign.tenantId}|${campaign.campaignId}|${generation}|${shard}|${ring}`,
    });
  }
  await enqueueFifo(deps.sqs, deps.fanoutQueueUrl, messages);
  return messages.length;
}

/** A page mark outlives its due time by this much at most (TTL), e.g. of a campaign completed first. */
const PAGE_MARK_TTL_SECONDS = 7 * 24 * 3600;

/** Marks one page of a shard as enqueued (an upsert: a repeated page writes the same mark again). */
async function markPage(
  deps: FanoutDeps,
  mark: Omit<PageMark, 'pk' | 'sk' | 'kind' | 'sweepPk'> & { readonly seq: number },
): Promise<void> {
  const { seq, ...fields } = mark;
  const { tenantId, campaignId, generation, shard } = fields;
  await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key: pageMarkKey(tenantId, campaignId, generation, shard, seq),
    set: {
      ...fields,
      kind: 'fanout-page',
      sweepPk: pageSweepPartition(tenantId, campaignId, shard),
      expiresAt: Math.ceil(Date.parse(mark.sweepAt ?? '') / 1000) + PAGE_MARK_TTL_SECONDS,
    },
  });
}

export interface FanoutShardResult {
  readonly enqueued: number;
  readonly done: boolean;
}

/**
 * Fans out one shard from its saved cursor until done or `budgetMs` is spent; then rings itself
 * again to continue. A paused, completed or superseded (older generation) campaign is left alone.
 */
export async function fanoutShard(
  deps: FanoutDeps,
  clock: Clock,
  message: FanoutMessageBody,
  messagesPerSecond: number,
  budgetMs: number,
): Promise<FanoutShardResult> {
  const { tenantId, campaignId, generation, shard } = message;
  const startedAt = Date.now();
  const campaignOut = await deps.ddb.send(
    new GetCommand({
      TableName: deps.table,
      Key: campaignKey(tenantId, campaignId),
      ConsistentRead: true,
    }),
  );
  const campaign = campaignOut.Item as CampaignItem | undefined;
  if (campaign?.status !== 'running' || (campaign.fanoutGeneration ?? 0) !== generation) {
    return { enqueued: 0, done: true };
  }
  const progressKey = fanoutKey(tenantId, campaignId, generation, shard);
  let progress = ((await readItem(deps.ddb, deps.table, progressKey)) ?? {}) as FanoutProgress;
  if (progress.done) return { enqueued: 0, done: true };

  const totals = await readTotals(deps.ddb, deps.table, tenantId, campaignId);
  const horizonMs = pendingHorizonMs(totals.pending, messagesPerSecond);
  const pk = recipientPartition(tenantId, campaignId, shard);
  let enqueued = 0;
  for (;;) {
    const page: QueryCommandOutput = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.table,
        KeyConditionExpression: 'pk = :pk',
        ConsistentRead: true,
        Limit: PAGE_SIZE,
        FilterExpression: '#st = :pending',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: { ':pk': pk, ':pending': 'pending' },
        ...(progress.cursor ? { ExclusiveStartKey: { pk, sk: progress.cursor } } : {}),
      }),
    );
    const pending = (page.Items ?? []) as RecipientItem[];
    const last: unknown = page.LastEvaluatedKey?.sk;
    const seq = (progress.seq ?? 0) + 1;
    if (pending.length > 0) {
      await markPage(deps, {
        tenantId,
        campaignId,
        generation,
        shard,
        seq,
        ...(progress.cursor ? { after: progress.cursor } : {}),
        ...(typeof last === 'string' ? { through: last } : {}),
        sweepAt: new Date(clock.now() + horizonMs).toISOString(),
      });
    }
    failpoint(FP_FANOUT_AFTER_MARK);
    await enqueueFifo(
      deps.sqs,
      deps.sendsQueueUrl,
      pending.map((item) => sendMessage(tenantId, campaignId, item.phone, `f${generation}`)),
    );
    enqueued += pending.length;
    failpoint(FP_FANOUT_AFTER_ENQUEUE);
    const next: FanoutProgress = {
      ...(typeof last === 'string' ? { cursor: last } : {}),
      done: typeof last !== 'string',
      seq,
      enqueued: (progress.enqueued ?? 0) + pending.length,
      updatedAt: isoTime(clock),
    };
    const saved = await saveProgress(deps, progressKey, progress.seq, next);
    if (!saved) return { enqueued, done: false }; // another worker is ahead on this shard
    progress = next;
    failpoint(FP_FANOUT_AFTER_BATCH);
    if (progress.done) return { enqueued, done: true };
    if (Date.now() - startedAt > budgetMs) {
      await ringFanout(deps, campaign, `s${progress.seq}`, [shard]);
      return { enqueued, done: false };
    }
  }
}

/** Saves the cursor only if nobody saved a newer one since we read it (never moves backwards). */
async function saveProgress(
  deps: FanoutDeps,
  key: { pk: string; sk: string },
  previousSeq: number | undefined,
  next: FanoutProgress,
): Promise<boolean> {
  const result = await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key,
    set: { kind: 'fanout', ...next },
    ...(next.cursor === undefined ? { remove: ['cursor'] } : {}),
    conditions: [
      previousSeq === undefined
        ? { expression: 'attribute_not_exists(pk)' }
        : { expression: 'seq = :prev', values: { ':prev': previousSeq } },
    ],
  });
  return result.applied;
}
