/**
 * Fan-out's adapter: each shard's progress item (its cursor, guarded by a sequence number so it
 * never moves backwards) and the page marks recovery reads from the shard's `RS#…#P` sweep
 * partition.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { queryAll } from '../kernel/paginate.js';
import { readItem } from '../kernel/read-item.js';
import type { FanoutRecords } from './campaign-store.js';
import { dueInSweep } from './campaign-store-sweep.js';
import {
  type CampaignShard,
  type FanoutProgress,
  type FanoutShard,
  keys,
  type PageMark,
  parseFanoutProgress,
  parsePageMark,
} from './items.js';

export class DynamoFanoutRecords implements FanoutRecords {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async progress(
    tenantId: string,
    campaignId: string,
    generation: number,
  ): Promise<Map<number, FanoutProgress>> {
    const { pk, skPrefix } = keys.fanoutGeneration(tenantId, campaignId, generation);
    const items = await queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
      ConsistentRead: true,
    });
    const progress = new Map<number, FanoutProgress>();
    for (const raw of items) {
      const parsed = parseFanoutProgress(raw);
      progress.set(parsed.shard, parsed.progress);
    }
    return progress;
  }

  async shardProgress(at: FanoutShard): Promise<FanoutProgress | undefined> {
    const key = keys.fanout(at.tenantId, at.campaignId, at.generation, at.shard);
    const raw = await readItem(this.ddb, this.table, key);
    return raw ? parseFanoutProgress(raw).progress : undefined;
  }

  async saveProgress(
    at: FanoutShard,
    previousSeq: number | undefined,
    next: FanoutProgress,
  ): Promise<boolean> {
    const result = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.fanout(at.tenantId, at.campaignId, at.generation, at.shard),
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

  async markPage(mark: PageMark, expiresAtSeconds: number): Promise<void> {
    const { seq, ...fields } = mark;
    const { tenantId, campaignId, generation, shard } = mark;
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.pageMark(tenantId, campaignId, generation, shard, seq),
      set: {
        ...fields,
        kind: 'fanout-page',
        sweepPk: keys.pageSweep(tenantId, campaignId, shard),
        expiresAt: expiresAtSeconds,
      },
    });
  }

  async *duePageMarks(at: CampaignShard, cutoff: string, budget: number): AsyncIterable<PageMark> {
    const partition = keys.pageSweep(at.tenantId, at.campaignId, at.shard);
    for await (const raw of dueInSweep(this.ddb, this.table, partition, cutoff, budget)) {
      yield parsePageMark(raw);
    }
  }

  async leaveSweep(mark: PageMark): Promise<void> {
    const { tenantId, campaignId, generation, shard, seq } = mark;
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.pageMark(tenantId, campaignId, generation, shard, seq),
      remove: ['sweepPk', 'sweepAt'],
      conditions: [{ expression: 'sweepAt = :seen', values: { ':seen': mark.sweepAt } }],
    });
  }
}
