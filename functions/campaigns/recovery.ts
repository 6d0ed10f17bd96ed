/**
 * The recovery schedule's sweep: DynamoDB is the truth, SQS is a doorbell, and this re-rings the
 * bell for work whose message is gone. It reads only the sparse `sweep` index: running campaigns,
 * paused ones, and per campaign shard the recipients and fan-out page marks that are due
 * (`sweepAt <= now`). What it does with each is decided by `recovery-policy.ts`:
 *
 * - `pending`, enqueued long ago (or the sends queue is empty, e.g. the emulator restarted), in a
 *   running campaign — found through its own entry (released for a retry, rung before) or through
 *   its fan-out page's mark (the page's recipients still pending, read strongly consistently from
 *   the page's key range): rung again with a new ring number — a new deduplication id *and its own
 *   message group*, so the new doorbell never waits behind an old one a crashed consumer still
 *   holds invisible. The doorbell is enqueued first and the recipient marked as rung after, so a
 *   crash in between only rings again next run (a doorbell is harmless: the recipient decides);
 * - `sending`: completed (a kept wamid), held or released (an unknown outcome past the window);
 * - fan-out shards that stopped before their end are rung again;
 * - a running campaign with nothing pending or sending and fan-out done is completed.
 *
 * Campaigns are recovered a few at a time, each on its own: one failing campaign is logged and
 * the others go on. Paused campaigns only have their in-flight sends settled (a separate sweep
 * partition), so a large paused backlog costs nothing and starves nobody.
 */
import { isoTime } from '../kernel/clock.js';
import { forEachWithConcurrency } from '../kernel/concurrency.js';
import { FailpointCrashError, failpoint } from '../kernel/failpoints.js';
import type { FifoMessage } from '../kernel/fifo.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import { FP_RECOVER_AFTER_ENQUEUE, FP_RECOVER_AFTER_RELEASE } from './failpoints.js';
import { type FanoutDeps, pendingHorizonMs, ringFanout, sendMessage } from './fanout.js';
import type { CampaignItem, PageMark, RecipientItem, RecipientRef } from './items.js';
import { SHARDS } from './items.js';
import { completeCampaign } from './lifecycle.js';
import { hashInto, reringGroupOf, type UnknownOutcomePolicy } from './model.js';
import { ringsNow, sendingVerdict } from './recovery-policy.js';

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
  const active = await deps.store.campaigns.inSweep('active');
  const paused = await deps.store.campaigns.inSweep('paused');
  // A campaign too malformed to read is one failed campaign, not a failed run.
  for (const error of [...active.unreadable, ...paused.unreadable]) {
    report.failedCampaigns += 1;
    countMetric('CampaignRecoveryFailed');
    logger.error('an unreadable campaign was skipped; the others go on', { error });
  }
  const listed = [...active.campaigns, ...paused.campaigns];
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
  const progress = await deps.store.fanout.progress(tenantId, campaignId, generation);
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
  const totalsBefore = await deps.store.counters.totals(tenantId, campaignId);
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
  // Completion is detected here, not in the fold: see docs/campaigns.md › "Where completion is
  // detected". The folded counts first (32 items): while they show a contact pending or sending
  // the campaign is not done, and the costly check below is not made. They trail the transitions
  // (a shard never folded reads 0), so they can say "nothing left" too early, never too late for
  // long: the recipients themselves (strongly consistent) have the last word, and the campaign
  // item's guarded move (running → completed) makes the completion happen once.
  // The folded counts are a hint, not a verdict: one stream batch dead-lettered after its
  // retries, or a repair that raced the fold, leaves a count wrong for good, and a count that
  // says "in flight" forever must not hold the campaign open forever. So the recipients are asked
  // anyway when a folded count is negative (drift, certainly) and, whatever the counts say, once
  // every IN_FLIGHT_RECHECK_MS (a full read of the campaign's recipients at most that often).
  const totals = await deps.store.counters.totals(tenantId, campaignId);
  const foldedInFlight = totals.pending !== 0 || totals.sending !== 0;
  if (foldedInFlight) {
    const drifted = Object.values(totals).some((n) => n < 0);
    if (!drifted && !inFlightRecheckDue(campaignId, now)) return;
  }
  if (await deps.store.pages.anyInFlight(tenantId, campaignId)) return;
  if (foldedInFlight) {
    logger.warn(
      'the folded counts show contacts in flight that the recipients do not; completing on the recipients (onceflow reconcile counters shows the drift)',
      { campaignId },
    );
  }
  if (!(await completeCampaign(deps, tenantId, campaignId))) return;
  // An operator's retry may have moved a contact back to pending after the recipients were asked
  // and before the completion: asked once more, and reopened if so (the retry does the same from
  // its side after its move, operator-retry.ts; between the two, the later one sees the other).
  if (await deps.store.pages.anyInFlight(tenantId, campaignId)) {
    const at = isoTime(deps.clock);
    await deps.store.campaigns.move(tenantId, campaignId, {
      from: 'completed',
      to: 'running',
      at,
      sweep: { list: 'active', at },
      reopened: true,
    });
    return;
  }
  report.completed += 1;
}

/** How often recovery asks the recipients past folded counts that still show a contact in flight. */
export const IN_FLIGHT_RECHECK_MS = 15 * 60_000;

/**
 * Whether this run is the campaign's recheck: recovery runs every minute, and each campaign takes
 * one minute of every IN_FLIGHT_RECHECK_MS, chosen by its id (stateless; campaigns spread out).
 */
export function inFlightRecheckDue(campaignId: string, now: number): boolean {
  const slots = IN_FLIGHT_RECHECK_MS / 60_000;
  return Math.floor(now / 60_000) % slots === hashInto(campaignId, slots);
}

interface ShardContext {
  readonly deps: RecoveryDeps;
  readonly campaign: CampaignItem;
  readonly running: boolean;
  readonly policy: UnknownOutcomePolicy;
  readonly horizonMs: number;
  readonly report: RecoveryReport;
}

/** A pending recipient to ring: who, its ring and the `sweepAt` it was seen with. */
interface DueRing {
  readonly ref: RecipientRef;
  readonly ring: number;
  readonly sweepAt: string | undefined;
}

const dueRing = (item: RecipientItem, sweepAt: string | undefined): DueRing => ({
  ref: { tenantId: item.tenantId, campaignId: item.campaignId, phone: item.phone },
  ring: item.ring ?? 0,
  sweepAt,
});

async function recoverShard(context: ShardContext, shard: number, cutoff: string): Promise<void> {
  const { deps, campaign, running } = context;
  const { tenantId, campaignId } = campaign;
  const { recipients, fanout } = deps.store;
  const rings: DueRing[] = [];
  const marks: PageMark[] = [];
  const nowIso = isoTime(deps.clock);
  // In-flight sends first (running or paused): completed, held or released.
  const at = { tenantId, campaignId, shard };
  const sending = recipients.due(at, 'sending', nowIso, ITEMS_PER_SHARD_RUN);
  for await (const item of sending) {
    const released = await settleSending(context, item);
    if (released && running) rings.push(released);
  }
  if (rings.length > 0) failpoint(FP_RECOVER_AFTER_RELEASE);
  if (running) {
    const pending = recipients.due(at, 'pending', cutoff, ITEMS_PER_SHARD_RUN);
    for await (const item of pending) {
      const due = await duePending(context, item);
      if (due) rings.push(due);
    }
    const pages = fanout.duePageMarks(at, cutoff, PAGE_MARKS_PER_SHARD_RUN);
    for await (const mark of pages) marks.push(mark);
    for (const mark of marks) rings.push(...(await pageRings(context, mark)));
  }
  if (rings.length > 0) {
    const messages: FifoMessage[] = rings.map((due) => {
      const ring = `r${due.ring + 1}`;
      return {
        ...sendMessage(tenantId, campaignId, due.ref.phone, ring),
        groupId: reringGroupOf(campaignId, due.ref.phone, ring),
      };
    });
    await deps.queues.sends(messages);
    failpoint(FP_RECOVER_AFTER_ENQUEUE);
    const nextSweepAt = new Date(deps.clock.now() + context.horizonMs).toISOString();
    for (const due of rings) {
      if (await recipients.markRung(due.ref, due, nextSweepAt)) context.report.rerung += 1;
    }
  }
  // Every recipient a page still held is rung and carries its own entry now: the page is done. A
  // mark newer than the campaign this run read (a resume meanwhile) waits for the next run.
  for (const mark of marks) {
    if (mark.generation <= (campaign.fanoutGeneration ?? 0)) await fanout.leaveSweep(mark);
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
  const pending = await deps.store.pages.pendingOfMark(mark);
  return pending.map((item) => dueRing(item, undefined));
}

/** A due pending recipient worth ringing (not waiting for a pair-rate retry), else undefined. */
async function duePending(
  context: ShardContext,
  item: RecipientItem,
): Promise<DueRing | undefined> {
  if (item.status === 'pending') {
    return ringsNow(item, isoTime(context.deps.clock)) ? dueRing(item, item.sweepAt) : undefined;
  }
  // Anything that should not be in the index any more: tidied away (unless it moved meanwhile).
  await context.deps.store.recipients.tidy(item);
  return undefined;
}

/**
 * One due `sending` recipient, as the policy says: a kept wamid is counted as sent; an unknown
 * outcome past the window is held or released. Returns the recipient to ring when released.
 */
async function settleSending(
  context: ShardContext,
  item: RecipientItem,
): Promise<DueRing | undefined> {
  const { deps } = context;
  const { recipients } = deps.store;
  if (item.status !== 'sending') {
    await recipients.tidy(item);
    return undefined;
  }
  const now = deps.clock.now();
  const at = new Date(now).toISOString();
  const verdict = sendingVerdict(item, context.policy, now, deps.reconcileWindowSeconds);
  switch (verdict.action) {
    case 'wait':
      return undefined;
    case 'complete':
      if (await recipients.completeKeptWamid(item, at)) context.report.wamidsCompleted += 1;
      return undefined;
    case 'hold':
      if (
        await recipients.endUnknown(item, { to: 'unknown', lastError: verdict.lastError, at, now })
      ) {
        context.report.held += 1;
        countMetric('CampaignUnknownOutcomeHeld');
      }
      return undefined;
    case 'release': {
      const released = await recipients.endUnknown(item, {
        to: 'pending',
        lastError: verdict.lastError,
        unknownRetries: verdict.unknownRetries,
        at,
        now,
      });
      if (!released) return undefined;
      context.report.released += 1;
      countMetric('CampaignUnknownOutcomeRetried');
      return dueRing(item, at);
    }
  }
}
