/**
 * Every item of a query, page by page, through the SDK's own paginator (`paginateQuery`): no
 * hand-written `LastEvaluatedKey` loops. Stops early when `maxItems` items were yielded.
 */
import {
  type DynamoDBDocumentClient,
  paginateQuery,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { Item } from './put-once.js';

export async function* queryItems<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  input: QueryCommandInput,
  options: { readonly pageSize?: number; readonly maxItems?: number } = {},
): AsyncGenerator<T> {
  let yielded = 0;
  const pages = paginateQuery(
    { client: ddb, ...(options.pageSize ? { pageSize: options.pageSize } : {}) },
    // The paginator writes ExclusiveStartKey into the input it is given: never the caller's.
    { ...input },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      if (options.maxItems !== undefined && yielded >= options.maxItems) return;
      yielded += 1;
      yield item as T;
    }
  }
}

/** `queryItems` collected into an array. */
export async function queryAll<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  input: QueryCommandInput,
  options: { readonly pageSize?: number; readonly maxItems?: number } = {},
): Promise<T[]> {
  const items: T[] = [];
  for await (const item of queryItems<T>(ddb, input, options)) items.push(item);
  return items;
}
