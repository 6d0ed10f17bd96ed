/**
 * Every item of a query, page by page, through the SDK's own paginator (`paginateQuery`): no
 * hand-written `LastEvaluatedKey` loops. Stops early when `maxItems` items were yielded.
 * `queryPage`: one page of a client-facing listing, from and to an opaque cursor.
 */
import {
  type DynamoDBDocumentClient,
  paginateQuery,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type * as z from 'zod';
import { decodeCursor, encodeCursor } from './cursor.js';
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

export interface QueryPage<T> {
  readonly items: T[];
  /** The cursor of the next page; null on the last one. */
  readonly nextCursor: string | null;
}

/**
 * One page of a listing: the query continued from the position `cursor` names — decoded with
 * `cursorSchema` (`keyCursor`), so a forged or foreign cursor is the contract's 400 — and the
 * cursor of the page after it.
 */
export async function queryPage<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  input: QueryCommandInput,
  cursor: string | undefined,
  cursorSchema: z.ZodType<Item>,
): Promise<QueryPage<T>> {
  const start = decodeCursor(cursor, cursorSchema);
  const out = await ddb.send(
    new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }),
  );
  return { items: (out.Items ?? []) as T[], nextCursor: encodeCursor(out.LastEvaluatedKey) };
}
