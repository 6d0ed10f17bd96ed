/**
 * Every item of a query, page by page, through the SDK's own paginator (`paginateQuery`): no
 * hand-written `LastEvaluatedKey` loops. Stops early when `maxItems` items were yielded.
 * `queryPage`: one page of a client-facing listing, from and to an opaque cursor bound to the query
 * (`cursor.ts`); `sendFromCursor`: the one place a client's start key meets DynamoDB.
 */
import {
  type DynamoDBDocumentClient,
  paginateQuery,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { type CursorScope, decodeCursor, encodeCursor, invalidCursor } from './cursor.js';
import type { Item } from './put-once.js';
import type * as z from './zod.js';

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

/** How many items a query matches (its filter applied), counted page by page (`Select: COUNT`). */
export async function queryCount(
  ddb: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'Select' | 'ProjectionExpression'>,
): Promise<number> {
  let count = 0;
  const pages = paginateQuery({ client: ddb }, { ...input, Select: 'COUNT' });
  for await (const page of pages) count += page.Count ?? 0;
  return count;
}

/** One page of a query read from a position the service itself kept (not a client's cursor). */
export interface PageFrom<T> {
  readonly items: T[];
  /** Where the next page starts; undefined when the query is done. */
  readonly lastKey?: Item;
  /** Items the page read before its filter (what it cost). */
  readonly scanned: number;
}

/**
 * One page of a query from `start` (exclusive; none: from the beginning): for work that keeps its
 * own position between runs (a fan-out shard's cursor). A client's cursor goes through `queryPage`.
 */
export async function queryPageFrom<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  input: QueryCommandInput,
  start: Item | undefined,
): Promise<PageFrom<T>> {
  const out = await ddb.send(
    new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }),
  );
  return {
    items: (out.Items ?? []) as T[],
    ...(out.LastEvaluatedKey ? { lastKey: out.LastEvaluatedKey } : {}),
    scanned: out.ScannedCount ?? 0,
  };
}

export interface QueryPage<T> {
  readonly items: T[];
  /** The cursor of the next page; null on the last one. */
  readonly nextCursor: string | null;
}

/**
 * What a query lists, for its cursors' scope: the index, the key condition and filter with their
 * names and values (so the partition, the sort-key prefix and every filter value), the direction.
 * Not the table (one per deployment), the page size or the read consistency: a client may change
 * `limit` between pages.
 */
export function queryScope(input: QueryCommandInput): CursorScope {
  return {
    index: input.IndexName,
    keys: input.KeyConditionExpression,
    filter: input.FilterExpression,
    names: input.ExpressionAttributeNames,
    values: input.ExpressionAttributeValues,
    forward: input.ScanIndexForward,
  };
}

/**
 * Sends a query that starts from a key a client's cursor named. The cursor's scope and schema
 * already refuse foreign and malformed cursors; a forged one that passes both (the scope tag is a
 * digest, not a secret) can still name a start key outside the query's key range, which DynamoDB
 * refuses with a `ValidationException`: that is the client's 400, never a 500.
 */
export async function sendFromCursor(
  ddb: DynamoDBDocumentClient,
  input: QueryCommandInput,
  start: Item | undefined,
): Promise<QueryCommandOutput> {
  try {
    return await ddb.send(
      new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
  } catch (error) {
    if (start && (error as { name?: unknown } | null)?.name === 'ValidationException') {
      throw invalidCursor();
    }
    throw error;
  }
}

/**
 * One page of a listing: the query continued from the position `cursor` names — decoded with
 * `cursorSchema` (`keyCursor`) under the query's own scope (`queryScope`, plus `scope` for what the
 * query does not show, e.g. the route), so a forged or foreign cursor is the contract's 400 — and
 * the cursor of the page after it.
 */
export async function queryPage<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  input: QueryCommandInput,
  cursor: string | undefined,
  cursorSchema: z.core.$ZodType<Item>,
  scope?: CursorScope,
): Promise<QueryPage<T>> {
  const bound = { query: queryScope(input), ...(scope !== undefined ? { listing: scope } : {}) };
  const start = decodeCursor(cursor, cursorSchema, bound);
  const out = await sendFromCursor(ddb, input, start);
  return { items: (out.Items ?? []) as T[], nextCursor: encodeCursor(out.LastEvaluatedKey, bound) };
}
