/**
 * The campaign item's adapter: its create (with its listing item), the cap's reservations, the
 * lifecycle's guarded moves and the sweep lists the schedules read.
 */
import { type DynamoDBDocumentClient, GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { batchGetAll } from '../kernel/batch-get.js';
import { conditionalUpdate, conditionalUpdateWrite } from '../kernel/conditional-update.js';
import { readEach } from '../kernel/item-reader.js';
import { queryItems } from '../kernel/paginate.js';
import { putOnceWrite } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import { transition } from '../kernel/transition.js';
import type { Condition } from '../kernel/update-expression.js';
import type {
  CampaignMove,
  CampaignRecords,
  CreateResult,
  ReserveResult,
  SweepListing,
} from './campaign-store.js';
import { listingPut } from './campaign-store-listing.js';
import {
  bornFoldGroupItem,
  type CampaignItem,
  FOLD_GROUPS,
  keys,
  parseCampaign,
  type SweepList,
} from './items.js';

const CAMPAIGN_WRITE = 'campaign';
const RESERVATION_WRITE = 'reservation';

const statusIs = (status: string): Condition => ({
  expression: '#st = :st',
  names: { '#st': 'status' },
  values: { ':st': status },
});

export class DynamoCampaignRecords implements CampaignRecords {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(
    tenantId: string,
    campaignId: string,
    options: { readonly consistent?: boolean } = {},
  ): Promise<CampaignItem | undefined> {
    const key = keys.campaign(tenantId, campaignId);
    // A decision reads strongly consistently; the sender's short cache may take a cheaper read.
    const raw =
      options.consistent === false
        ? (await this.ddb.send(new GetCommand({ TableName: this.table, Key: key }))).Item
        : await readItem(this.ddb, this.table, key);
    return raw ? parseCampaign(raw) : undefined;
  }

  async getMany(
    tenantId: string,
    campaignIds: readonly string[],
  ): Promise<Map<string, CampaignItem>> {
    const found = new Map<string, CampaignItem>();
    const raws = await batchGetAll(
      this.ddb,
      this.table,
      campaignIds.map((id) => keys.campaign(tenantId, id)),
    );
    for (const raw of raws) {
      const campaign = parseCampaign(raw);
      found.set(campaign.campaignId, campaign);
    }
    return found;
  }

  async create(campaign: CampaignItem): Promise<CreateResult> {
    const { tenantId, campaignId, createdAt } = campaign;
    const result = await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        putOnceWrite(CAMPAIGN_WRITE, {
          table: this.table,
          item: { ...keys.campaign(tenantId, campaignId), kind: 'campaign', ...campaign },
        }),
        listingPut(this.table, tenantId, campaignId, createdAt),
        // Its fold groups, born holding every shard: its counts are never looked for in the
        // per-shard items of before the groups (`campaign-store-fold.ts`).
        ...Array.from({ length: FOLD_GROUPS }, (_, group) =>
          putOnceWrite(`fold-group-${group}`, {
            table: this.table,
            item: bornFoldGroupItem(tenantId, campaignId, group),
          }),
        ),
      ]),
    );
    if (result.ok) return { created: true };
    const current = result.failed === CAMPAIGN_WRITE ? result.current : undefined;
    return { created: false, ...(current ? { existing: parseCampaign(current) } : {}) };
  }

  async reserve(
    tenantId: string,
    campaignId: string,
    reservation: { id: string; incoming: number; cap: number; at: string },
  ): Promise<ReserveResult> {
    const result = await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        conditionalUpdateWrite(CAMPAIGN_WRITE, {
          table: this.table,
          key: keys.campaign(tenantId, campaignId),
          add: { recipientsHeld: reservation.incoming },
          conditions: [
            statusIs('draft'),
            {
              expression: 'attribute_not_exists(#held) OR #held <= :room',
              names: { '#held': 'recipientsHeld' },
              values: { ':room': reservation.cap - reservation.incoming },
            },
          ],
        }),
        putOnceWrite(RESERVATION_WRITE, {
          table: this.table,
          item: {
            ...keys.reservation(tenantId, campaignId, reservation.id),
            kind: 'reservation',
            reserved: reservation.incoming,
            createdAt: reservation.at,
          },
        }),
      ]),
    );
    if (result.ok) return { reserved: true };
    if (result.failures.some((f) => f.label === RESERVATION_WRITE)) {
      return { reserved: false, reason: 'already' };
    }
    const current = result.current ? parseCampaign(result.current) : undefined;
    if (current?.status !== 'draft') return { reserved: false, reason: 'not-draft' };
    return { reserved: false, reason: 'full', held: current.recipientsHeld ?? 0 };
  }

  async settle(
    tenantId: string,
    campaignId: string,
    reservationId: string,
    unused: number,
  ): Promise<void> {
    const giveBack: AtomicWrite[] =
      unused > 0
        ? [
            conditionalUpdateWrite(CAMPAIGN_WRITE, {
              table: this.table,
              key: keys.campaign(tenantId, campaignId),
              add: { recipientsHeld: -unused },
            }),
          ]
        : [];
    await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        conditionalUpdateWrite(RESERVATION_WRITE, {
          table: this.table,
          key: keys.reservation(tenantId, campaignId, reservationId),
          set: { settled: true, unused },
          conditions: [{ expression: 'attribute_exists(pk) AND attribute_not_exists(settled)' }],
        }),
        ...giveBack,
      ]),
    );
  }

  async move(tenantId: string, campaignId: string, move: CampaignMove): Promise<boolean> {
    const set: Record<string, unknown> = { updatedAt: move.at };
    if (move.startedAt !== undefined) set.startedAt = move.startedAt;
    if (move.completedAt !== undefined) set.completedAt = move.completedAt;
    if (move.fanoutGeneration !== undefined) set.fanoutGeneration = move.fanoutGeneration;
    if (move.sweep) {
      set.sweepPk = keys.sweepList(move.sweep.list);
      if (move.sweep.at !== undefined) set.sweepAt = move.sweep.at;
    }
    const result = await transition(this.ddb, {
      table: this.table,
      key: keys.campaign(tenantId, campaignId),
      from: [move.from],
      to: move.to,
      set,
      ...(move.reopened ? { remove: ['completedAt'] } : {}),
    });
    return result.applied;
  }

  async leaveSweep(tenantId: string, campaignId: string): Promise<void> {
    // Not applied: it moved meanwhile, and the next run looks again.
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.campaign(tenantId, campaignId),
      remove: ['sweepPk', 'sweepAt'],
      conditions: [statusIs('completed')],
    });
  }

  async inSweep(list: SweepList): Promise<SweepListing> {
    const items = queryItems(this.ddb, {
      TableName: this.table,
      IndexName: 'sweep',
      KeyConditionExpression: 'sweepPk = :p',
      ExpressionAttributeValues: { ':p': keys.sweepList(list) },
    });
    const { read, unreadable } = await readEach(items, parseCampaign);
    return { campaigns: read, unreadable };
  }

  async *scan(): AsyncIterable<CampaignItem> {
    const pages = paginateScan(
      { client: this.ddb },
      {
        TableName: this.table,
        FilterExpression: 'sk = :meta AND begins_with(pk, :prefix)',
        ExpressionAttributeValues: {
          ':meta': keys.campaignScan.sk,
          ':prefix': keys.campaignScan.pkPrefix,
        },
      },
    );
    for await (const page of pages) for (const raw of page.Items ?? []) yield parseCampaign(raw);
  }
}
