/**
 * A tenant's campaigns, newest first, with their progress (`GET /v1/campaigns`), without a scan:
 * the store's listing partition (`campaign-store-listing.ts`), the campaign items in one batch read,
 * each one's totals and, while it sends, the contacts waiting for evidence.
 */
import type { CampaignDeps } from './campaign-store.js';
import type { CampaignItem } from './items.js';
import { type CampaignView, campaignView, type Totals } from './model.js';

export interface CampaignProgress {
  /** Contacts that left `pending` through a send (ended, or sending), per second. */
  readonly sendsPerSecond: number;
  /** The tenant's `messagesPerSecond`: the rate sends are held to. */
  readonly configuredRate: number;
  /** Seconds until the pending contacts are sent at the current (else the configured) rate. */
  readonly etaSeconds: number | null;
  /** Contacts `sending` whose provider call ended without an answer: waiting for a status webhook. */
  readonly awaitingEvidence: number;
}

export interface CampaignSummary extends CampaignView {
  readonly progress: CampaignProgress;
}

export interface ListCampaignsOptions {
  readonly limit: number;
  readonly cursor?: string | undefined;
  /** The tenant's configured send rate (messages per second). */
  readonly configuredRate: number;
  /** The longest a provider call stays in flight: a `sending` contact older has no answer coming. */
  readonly providerTimeoutSeconds: number;
}

/** Contacts that went through a send: everything but the backlog and the invalid phones. */
export function contactsSent(totals: Totals): number {
  return totals.recipients - totals.pending - totals.skipped;
}

/**
 * Progress from totals and times. The rate is averaged since start (until completion): a rate over
 * the last minute would need per-minute counters moved by every send, which the send path does not
 * keep. Pauses count as time, so a campaign paused for a while shows a lower rate than it sends at.
 */
export function campaignProgress(
  campaign: Pick<CampaignItem, 'status' | 'startedAt' | 'completedAt'>,
  totals: Totals,
  nowMs: number,
  configuredRate: number,
  awaitingEvidence: number,
): CampaignProgress {
  const sent = contactsSent(totals);
  const started = campaign.startedAt ? Date.parse(campaign.startedAt) : Number.NaN;
  const ended = campaign.completedAt ? Date.parse(campaign.completedAt) : nowMs;
  const elapsedSeconds = Number.isFinite(started) ? Math.max(0, (ended - started) / 1000) : 0;
  const sendsPerSecond = elapsedSeconds > 0 ? Math.round((sent / elapsedSeconds) * 10) / 10 : 0;
  let etaSeconds: number | null = null;
  if (totals.pending === 0) etaSeconds = 0;
  else if (campaign.status === 'running') {
    // No send measured yet: the configured rate is the best guess.
    const rate = sendsPerSecond > 0 ? Math.min(sendsPerSecond, configuredRate) : configuredRate;
    etaSeconds = Math.ceil(totals.pending / rate);
  }
  return { sendsPerSecond, configuredRate, etaSeconds, awaitingEvidence };
}

/** Campaigns a page may hold: each costs a counter read (and up to 32 queries while sending). */
export const MAX_CAMPAIGNS_PER_PAGE = 50;

export async function listCampaigns(
  deps: CampaignDeps,
  tenantId: string,
  options: ListCampaignsOptions,
): Promise<{ campaigns: CampaignSummary[]; nextCursor: string | null }> {
  const { store } = deps;
  const page = await store.listing.page(tenantId, {
    cursor: options.cursor,
    limit: Math.min(options.limit, MAX_CAMPAIGNS_PER_PAGE),
  });
  const items = await store.campaigns.getMany(tenantId, page.campaignIds);
  const nowMs = deps.clock.now();
  const cutoff = new Date(nowMs - options.providerTimeoutSeconds * 1000).toISOString();
  const campaigns = await Promise.all(
    page.campaignIds.map(async (campaignId): Promise<CampaignSummary | undefined> => {
      const campaign = items.get(campaignId);
      if (!campaign) return undefined;
      const totals = await store.counters.totals(tenantId, campaignId);
      const awaiting =
        totals.sending > 0 ? await store.listing.awaitingEvidence(tenantId, campaignId, cutoff) : 0;
      return {
        ...campaignView(campaign, totals),
        progress: campaignProgress(campaign, totals, nowMs, options.configuredRate, awaiting),
      };
    }),
  );
  return {
    campaigns: campaigns.filter((c): c is CampaignSummary => c !== undefined),
    nextCursor: page.nextCursor,
  };
}
