/**
 * A tenant's campaigns, newest first, with their progress (`GET /v1/campaigns`), without a scan.
 *
 * Listing items in the `campaigns` table: `CL#<tenant> / C#<createdAt>#<campaignId>`, written in
 * the same transaction as the campaign item itself (`createCampaign`), so a campaign exists exactly
 * when it is listed. They are read with strongly consistent queries (never a GSI), so a campaign
 * created a moment ago is already in the first page.
 *
 * One partition per tenant, not sharded: a tenant creates campaigns at human pace (an operator or
 * an integration kicking one off), far below the ~1,000 writes/s one partition takes; nothing else
 * writes these items. A tenant that somehow created campaigns in the thousands per second would
 * need `CL#<tenant>#<n>` shards merged on read; it cannot realistically happen, so it is not built.
 */
import { BatchGetCommand, type DynamoDBDocumentClient, paginateQuery } from '@aws-sdk/lib-dynamodb';
import type { AtomicWrite } from '../kernel/atomic.js';
import type { Clock } from '../kernel/clock.js';
import { keyCursor } from '../kernel/cursor.js';
import { queryPage } from '../kernel/paginate.js';
import { readTotals } from './counters.js';
import {
  type CampaignItem,
  type CampaignView,
  campaignKey,
  campaignView,
  SHARDS,
  sendingSweepPartition,
  type Totals,
} from './model.js';

export interface CampaignListingStore {
  readonly ddb: DynamoDBDocumentClient;
  readonly clock: Clock;
  /** Physical name of the `campaigns` table. */
  readonly table: string;
}

export const campaignListPartition = (tenantId: string) => `CL#${tenantId}`;

export const campaignListingKey = (tenantId: string, createdAt: string, campaignId: string) => ({
  pk: campaignListPartition(tenantId),
  sk: `C#${createdAt}#${campaignId}`,
});

interface CampaignListingItem {
  readonly pk: string;
  readonly sk: string;
  readonly kind: 'campaign-listing';
  readonly tenantId: string;
  readonly campaignId: string;
  readonly createdAt: string;
}

/** The listing item's put, for the campaign-create transaction. */
export function campaignListingWrite(
  table: string,
  tenantId: string,
  campaignId: string,
  createdAt: string,
): AtomicWrite {
  const item: CampaignListingItem = {
    ...campaignListingKey(tenantId, createdAt, campaignId),
    kind: 'campaign-listing',
    tenantId,
    campaignId,
    createdAt,
  };
  return {
    label: 'listing',
    put: { table, item: { ...item }, condition: 'attribute_not_exists(pk)' },
  };
}

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

/**
 * Counts the `sending` contacts whose call is over (claimed longer ago than the provider timeout)
 * and that hold no wamid. Read from the sparse sweep index, which is eventually consistent: a
 * display figure, nothing decides on it. Only asked when the totals show someone `sending`.
 */
async function countAwaitingEvidence(
  store: CampaignListingStore,
  tenantId: string,
  campaignId: string,
  cutoff: string,
): Promise<number> {
  const counts = await Promise.all(
    Array.from({ length: SHARDS }, async (_, shard) => {
      let count = 0;
      const pages = paginateQuery(
        { client: store.ddb },
        {
          TableName: store.table,
          IndexName: 'sweep',
          KeyConditionExpression: 'sweepPk = :p',
          FilterExpression:
            '#st = :sending AND sendingSince < :cut AND attribute_not_exists(providerMessageId)',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: {
            ':p': sendingSweepPartition(tenantId, campaignId, shard),
            ':sending': 'sending',
            ':cut': cutoff,
          },
          Select: 'COUNT',
        },
      );
      for await (const page of pages) count += page.Count ?? 0;
      return count;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

async function getCampaignItems(
  store: CampaignListingStore,
  tenantId: string,
  campaignIds: readonly string[],
): Promise<Map<string, CampaignItem>> {
  const found = new Map<string, CampaignItem>();
  let keys: Record<string, unknown>[] = campaignIds.map((id) => campaignKey(tenantId, id));
  for (let round = 0; keys.length > 0; round++) {
    if (round >= 8) throw new Error('campaign reads still unprocessed after 8 rounds');
    if (round > 0) await new Promise((r) => setTimeout(r, Math.random() * 25 * 2 ** round));
    const out = await store.ddb.send(
      new BatchGetCommand({
        RequestItems: { [store.table]: { Keys: keys, ConsistentRead: true } },
      }),
    );
    for (const item of out.Responses?.[store.table] ?? []) {
      const campaign = item as CampaignItem;
      found.set(campaign.campaignId, campaign);
    }
    keys = out.UnprocessedKeys?.[store.table]?.Keys ?? [];
  }
  return found;
}

/** Campaigns a page may hold: each costs a counter read (and up to 32 queries while sending). */
export const MAX_CAMPAIGNS_PER_PAGE = 50;

export async function listCampaigns(
  store: CampaignListingStore,
  tenantId: string,
  options: ListCampaignsOptions,
): Promise<{ campaigns: CampaignSummary[]; nextCursor: string | null }> {
  const pk = campaignListPartition(tenantId);
  const limit = Math.min(options.limit, MAX_CAMPAIGNS_PER_PAGE);
  // The cursor is bound to this query and pinned to this tenant's partition: any other is a 400.
  const out = await queryPage(
    store.ddb,
    {
      TableName: store.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: limit,
    },
    options.cursor,
    keyCursor(['pk', 'sk'], { pk }),
  );
  const listed = out.items.map((item) => String((item as Partial<CampaignListingItem>).campaignId));
  const items = await getCampaignItems(store, tenantId, listed);
  const nowMs = store.clock.now();
  const cutoff = new Date(nowMs - options.providerTimeoutSeconds * 1000).toISOString();
  const campaigns = await Promise.all(
    listed.map(async (campaignId): Promise<CampaignSummary | undefined> => {
      const campaign = items.get(campaignId);
      if (!campaign) return undefined;
      const totals = await readTotals(store.ddb, store.table, tenantId, campaignId);
      const awaiting =
        totals.sending > 0 ? await countAwaitingEvidence(store, tenantId, campaignId, cutoff) : 0;
      return {
        ...campaignView(campaign, totals),
        progress: campaignProgress(campaign, totals, nowMs, options.configuredRate, awaiting),
      };
    }),
  );
  return {
    campaigns: campaigns.filter((c): c is CampaignSummary => c !== undefined),
    nextCursor: out.nextCursor,
  };
}
