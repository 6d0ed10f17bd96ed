/**
 * The counters' adapter: a campaign's totals are its shards' counts folded from the change feed
 * (`CF#…#<shard> / FOLD`, written by the fold, `counter-fold.ts`), summed on read; a shard's
 * recipients recounted for reconciliation; and the one write besides the fold's, a repair that sets
 * a shard's folded counts to a recount. The transitions themselves write no counter: counting
 * contacts, not attempts, falls out of folding each transition's stream record exactly once.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { queryItems } from '../kernel/paginate.js';
import { readItem } from '../kernel/read-item.js';
import type { CampaignCounters, FoldedShard, ShardRecount } from './campaign-store.js';
import type { FoldedCounters } from './counter-fold.js';
import { keys, parseFoldedCounter } from './items.js';
import {
  emptyTotals,
  RECIPIENT_STATUSES,
  type RecipientStatus,
  sumTotals,
  type Totals,
} from './model.js';

export type CounterDeltas = Partial<Record<keyof Totals, number>>;

const FIELDS = ['recipients', ...RECIPIENT_STATUSES] as const;

export class DynamoCampaignCounters implements CampaignCounters {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly folded: Pick<FoldedCounters, 'shards'>,
  ) {}

  /**
   * Every shard's folded counts (one strongly consistent `BatchGetItem` of 32 items). They trail
   * the transitions by the fold's lag (`CounterFoldLagSeconds`, seconds): a total read right after
   * a transition may not count it yet, and equals the listing once the feed is folded. Nothing
   * decides on them alone: fan-out only sizes a horizon with them, completion re-checks the
   * recipients themselves (recovery), reconciliation and repair call a shard that was written
   * within the lag bound, or whose counts moved while it was recounted, inconclusive.
   */
  shards(tenantId: string, campaignId: string): Promise<Totals[]> {
    return this.folded.shards(tenantId, campaignId);
  }

  async totals(tenantId: string, campaignId: string): Promise<Totals> {
    return sumTotals(await this.shards(tenantId, campaignId));
  }

  async shard(tenantId: string, campaignId: string, shard: number): Promise<FoldedShard> {
    const raw = await readItem(
      this.ddb,
      this.table,
      keys.foldedCounter(tenantId, campaignId, shard),
    );
    if (!raw) return { totals: emptyTotals(), exists: false };
    const { totals, foldSeq } = parseFoldedCounter(raw);
    return { totals, exists: true, ...(foldSeq !== undefined ? { foldSeq } : {}) };
  }

  async recount(tenantId: string, campaignId: string, shard: number): Promise<ShardRecount> {
    const totals = emptyTotals();
    let lastWrittenAt: string | undefined;
    const items = queryItems(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ProjectionExpression: '#st, #up',
      ExpressionAttributeNames: { '#st': 'status', '#up': 'updatedAt' },
      ExpressionAttributeValues: { ':pk': keys.recipientPartition(tenantId, campaignId, shard) },
      ConsistentRead: true,
    });
    for await (const item of items) {
      const status = item.status as RecipientStatus;
      if (RECIPIENT_STATUSES.includes(status)) totals[status] += 1;
      totals.recipients += 1;
      const at = item.updatedAt;
      if (typeof at === 'string' && (lastWrittenAt === undefined || at > lastWrittenAt)) {
        lastWrittenAt = at;
      }
    }
    return { totals, ...(lastWrittenAt !== undefined ? { lastWrittenAt } : {}) };
  }

  async setShard(
    tenantId: string,
    campaignId: string,
    shard: number,
    seen: FoldedShard,
    next: Totals,
  ): Promise<boolean> {
    // On condition that the fold has not written the shard since it was read: its `foldSeq` (and
    // counts) as seen, or still no item at all. A fold in between fails this and the repair reads
    // again, so a batch folded meanwhile is neither lost nor counted twice.
    const names: Record<string, string> = { '#seq': 'foldSeq' };
    const values: Record<string, unknown> = {};
    let expression: string;
    if (!seen.exists) expression = 'attribute_not_exists(pk)';
    else {
      const guards = FIELDS.map((field, i) => {
        names[`#f${i}`] = field;
        values[`:seen${i}`] = seen.totals[field];
        return seen.totals[field] === 0
          ? `(attribute_not_exists(#f${i}) OR #f${i} = :seen${i})`
          : `#f${i} = :seen${i}`;
      });
      if (seen.foldSeq === undefined) guards.push('attribute_not_exists(#seq)');
      else {
        values[':seq'] = seen.foldSeq;
        guards.push('#seq = :seq');
      }
      expression = guards.join(' AND ');
    }
    const result = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.foldedCounter(tenantId, campaignId, shard),
      set: Object.fromEntries(FIELDS.map((field) => [field, next[field]])),
      conditions: [
        {
          expression,
          ...(Object.keys(names).length > 0 && seen.exists ? { names } : {}),
          ...(Object.keys(values).length > 0 ? { values } : {}),
        },
      ],
    });
    return result.applied;
  }
}
