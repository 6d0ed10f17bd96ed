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

import type { Clock } from '../kernel/clock.js';
import { isoTime } from '../kernel/clock.js';
import { failpoint } from '../kernel/failpoints.js';
import type { FifoMessage } from '../kernel/fifo.js';
import type { CampaignQueues } from './campaign-queues.js';
import type { CampaignStore } from './campaign-store.js';
import {
  FP_FANOUT_AFTER_BATCH,
  FP_FANOUT_AFTER_ENQUEUE,
  FP_FANOUT_AFTER_MARK,
} from './failpoints.js';
import { type CampaignItem, type FanoutProgress, SHARDS } from './items.js';
import {
  type FanoutMessageBody,
  type SendMessageBody,
  sendGroupOf,
  sendIdentity,
} from './model.js';

/** What fan-out (and everything that rings doorbells) works with. */
export interface FanoutDeps {
  readonly store: CampaignStore;
  readonly clock: Clock;
  readonly queues: CampaignQueues;
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
  const progress = await deps.store.fanout.progress(
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
  await deps.queues.fanout(messages);
  return messages.length;
}

/** A page mark outlives its due time by this much at most (TTL), e.g. of a campaign completed first. */
const PAGE_MARK_TTL_SECONDS = 7 * 24 * 3600;

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
  message: FanoutMessageBody,
  messagesPerSecond: number,
  budgetMs: number,
): Promise<FanoutShardResult> {
  const { tenantId, campaignId, generation, shard } = message;
  // The invocation's own time (its budget), not the clock seam that tests jump.
  const startedAt = Date.now();
  const campaign = await deps.store.campaigns.get(tenantId, campaignId);
  if (campaign?.status !== 'running' || (campaign.fanoutGeneration ?? 0) !== generation) {
    return { enqueued: 0, done: true };
  }
  let progress: FanoutProgress = (await deps.store.fanout.shardProgress(message)) ?? {};
  if (progress.done) return { enqueued: 0, done: true };

  const totals = await deps.store.counters.totals(tenantId, campaignId);
  const horizonMs = pendingHorizonMs(totals.pending, messagesPerSecond);
  let enqueued = 0;
  for (;;) {
    const page = await deps.store.pages.pendingPage(
      tenantId,
      campaignId,
      shard,
      progress.cursor,
      PAGE_SIZE,
    );
    const seq = (progress.seq ?? 0) + 1;
    if (page.recipients.length > 0) {
      const sweepAt = new Date(deps.clock.now() + horizonMs).toISOString();
      await deps.store.fanout.markPage(
        {
          tenantId,
          campaignId,
          generation,
          shard,
          seq,
          ...(progress.cursor ? { after: progress.cursor } : {}),
          ...(page.last !== undefined ? { through: page.last } : {}),
          sweepAt,
        },
        Math.ceil(Date.parse(sweepAt) / 1000) + PAGE_MARK_TTL_SECONDS,
      );
    }
    failpoint(FP_FANOUT_AFTER_MARK);
    await deps.queues.sends(
      page.recipients.map((item) =>
        sendMessage(tenantId, campaignId, item.phone, `f${generation}`),
      ),
    );
    enqueued += page.recipients.length;
    failpoint(FP_FANOUT_AFTER_ENQUEUE);
    const next: FanoutProgress = {
      ...(page.last !== undefined ? { cursor: page.last } : {}),
      done: page.last === undefined,
      seq,
      enqueued: (progress.enqueued ?? 0) + page.recipients.length,
      updatedAt: isoTime(deps.clock),
    };
    const saved = await deps.store.fanout.saveProgress(message, progress.seq, next);
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
