/**
 * Fan-out's adapter: each shard's progress item (its cursor, guarded by a sequence number so it
 * never moves backwards) and the page marks recovery reads from the shard's `RS#…#P` sweep
 * partition.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { queryAll, queryItems } from '../kernel/paginate.js';
import { readItem } from '../kernel/read-item.js';
import type { FanoutRecords } from './campaign-store.js';
import {
  type FanoutProgress,
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

  async shardProgress(
    tenantId: string,
    campaignId: string,
    generation: number,
    shard: number,
  ): Promise<FanoutProgress | undefined> {
    const key = keys.fanout(tenantId, campaignId, generation, shard);
    const raw = await readItem(this.ddb, this.table, key);
    return raw ? parseFanoutProgress(raw).progress : undefined;
  }

  async saveProgress(
    tenantId: string,
    campaignId: string,
    generation: number,
    shard: number,
    previousSeq: number | undefined,
    next: FanoutProgress,
  ): Promise<boolean> {
    const result = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.fanout(tenantId, campaignId, generation, shard),
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

  async *duePageMarks(
    tenantId: string,
    campaignId: string,
    shard: number,
    cutoff: string,
    budget: number,
  ): AsyncIterable<PageMark> {
    const items = queryItems(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'sweep',
        KeyConditionExpression: 'sweepPk = :p AND sweepAt <= :cut',
        ExpressionAttributeValues: {
          ':p': keys.pageSweep(tenantId, campaignId, shard),
          ':cut': cutoff,
        },
      },
      { pageSize: Math.min(200, budget), maxItems: budget },
    );
    for await (const raw of items) yield parsePageMark(raw);
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
