/**
 * `readItem`: one item by its key, read strongly consistently from the base table. Whatever decides
 * a state move reads this way, never an index (indexes are eventually consistent on AWS).
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Item } from './put-once.js';

export async function readItem(
  ddb: DynamoDBDocumentClient,
  table: string,
  key: Item,
): Promise<Item | undefined> {
  const out = await ddb.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return out.Item;
}
