/**
 * The counters' adapter: a campaign's totals are its fold groups' counts folded from the change feed
 * (`CG#…#<group> / FOLD`, written by the fold, `counter-fold.ts`, plus the old per-shard counts of
 * shards not moved in yet: `campaign-store-fold.ts`), summed on read; a group's recipients
 * recounted for reconciliation; and the one write besides the fold's, a repair that sets a group's
 * folded counts to a recount. The transitions themselves write no counter: counting contacts, not
 * attempts, falls out of folding each transition's stream record exactly once.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { queryItems } from '../kernel/paginate.js';
import type { Condition } from '../kernel/update-expression.js';
import type { CampaignCounters, FoldedGroup, ShardRecount } from './campaign-store.js';
import { readFoldGroups } from './campaign-store-fold.js';
import type { FoldedCounters } from './counter-fold.js';
import { BORN_FOLD_SEQ, foldSeqAttribute, keys, shardsOfGroup } from './items.js';
import {
  emptyTotals,
  RECIPIENT_STATUSES,
  type RecipientStatus,
  sumTotals,
  type Totals,
} from './model.js';

export type CounterDeltas = Partial<Record<keyof Totals, number>>;

const FIELDS = ['recipients', ...RECIPIENT_STATUSES] as const;

/** The sequence number a repair gives a shard nothing was ever folded for: below every record. */
const NOTHING_FOLDED = BORN_FOLD_SEQ;

export class DynamoCampaignCounters implements CampaignCounters {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly folded: Pick<FoldedCounters, 'groups'>,
  ) {}

  /**
   * Every fold group's folded counts (strongly consistent `BatchGetItem`s: `readFoldGroups`). They trail the
   * transitions by the fold's lag (`CounterFoldLagSeconds`, seconds): a total read right after a
   * transition may not count it yet, and equals the listing once the feed is folded. Nothing
   * decides on them alone: fan-out only sizes a horizon with them, completion re-checks the
   * recipients themselves (recovery), reconciliation and repair call a group that was written
   * within the lag bound, or whose counts moved while it was recounted, inconclusive.
   */
  groups(tenantId: string, campaignId: string): Promise<Totals[]> {
    return this.folded.groups(tenantId, campaignId);
  }

  async totals(tenantId: string, campaignId: string): Promise<Totals> {
    return sumTotals(await this.groups(tenantId, campaignId));
  }

  async group(tenantId: string, campaignId: string, group: number): Promise<FoldedGroup> {
    const [read] = await readFoldGroups(this.ddb, this.table, tenantId, campaignId, [group]);
    if (!read) throw new Error('readFoldGroups answered no group');
    return read;
  }

  async recount(tenantId: string, campaignId: string, group: number): Promise<ShardRecount> {
    const recounts = await Promise.all(
      shardsOfGroup(group).map((shard) => this.recountShard(tenantId, campaignId, shard)),
    );
    const lastWrittenAt = recounts
      .map((r) => r.lastWrittenAt)
      .filter((at): at is string => at !== undefined)
      .sort()
      .at(-1);
    return {
      totals: sumTotals(recounts.map((r) => r.totals)),
      ...(lastWrittenAt !== undefined ? { lastWrittenAt } : {}),
    };
  }

  private async recountShard(
    tenantId: string,
    campaignId: string,
    shard: number,
  ): Promise<ShardRecount> {
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

  async setGroup(
    tenantId: string,
    campaignId: string,
    group: number,
    seen: FoldedGroup,
    next: Totals,
  ): Promise<boolean> {
    // On condition that the fold has not written the group since it was read: its counts and each
    // shard's sequence number as seen (absent as absent), or still no item at all. A fold in
    // between fails this and the repair reads again, so a batch folded meanwhile is neither lost
    // nor counted twice. Every shard of the group is moved in by the repair: its sequence number
    // is the group's, else its old item's, else below every record; old items are then no longer
    // added (their counts are in the recount).
    const conditions: Condition[] = [];
    if (!seen.item) conditions.push({ expression: 'attribute_not_exists(pk)' });
    else {
      const { totals, seqs } = seen.item;
      for (const [i, field] of FIELDS.entries()) {
        const names = { [`#f${i}`]: field };
        const values = { [`:f${i}`]: totals[field] };
        conditions.push({
          expression:
            totals[field] === 0
              ? `(attribute_not_exists(#f${i}) OR #f${i} = :f${i})`
              : `#f${i} = :f${i}`,
          names,
          values,
        });
      }
      for (const shard of shardsOfGroup(group)) {
        const names = { [`#q${shard}`]: foldSeqAttribute(shard) };
        const seq = seqs.get(shard);
        conditions.push(
          seq === undefined
            ? { expression: `attribute_not_exists(#q${shard})`, names }
            : { expression: `#q${shard} = :q${shard}`, names, values: { [`:q${shard}`]: seq } },
        );
      }
    }
    const set: Record<string, unknown> = Object.fromEntries(
      FIELDS.map((field) => [field, next[field]]),
    );
    for (const shard of shardsOfGroup(group)) {
      set[foldSeqAttribute(shard)] =
        seen.item?.seqs.get(shard) ?? seen.oldSeqs.get(shard) ?? NOTHING_FOLDED;
    }
    const result = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.foldedGroup(tenantId, campaignId, group),
      set,
      conditions,
    });
    return result.applied;
  }
}
