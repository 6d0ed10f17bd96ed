/**
 * The campaigns' sparse `sweep` index, as the adapters read it: the items of one sweep partition
 * due by `cutoff` (`sweepAt <= cutoff`), at most `budget` of them, oldest first. The index only
 * proposes work (it is eventually consistent on AWS): every move it leads to is a conditional
 * write on the base item.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { queryItems } from '../kernel/paginate.js';
import type { Item } from '../kernel/put-once.js';

/** Items read per query page: a shard's run takes at most a few pages. */
const SWEEP_PAGE = 200;

export function dueInSweep(
  ddb: DynamoDBDocumentClient,
  table: string,
  partition: string,
  cutoff: string,
  budget: number,
): AsyncIterable<Item> {
  return queryItems(
    ddb,
    {
      TableName: table,
      IndexName: 'sweep',
      KeyConditionExpression: 'sweepPk = :p AND sweepAt <= :cut',
      ExpressionAttributeValues: { ':p': partition, ':cut': cutoff },
    },
    { pageSize: Math.min(SWEEP_PAGE, budget), maxItems: budget },
  );
}
