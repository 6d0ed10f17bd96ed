/**
 * `batchGetAll`: the items of many keys of one table, by key, in `BatchGetItem` requests of at most
 * 100 keys. DynamoDB may answer part of a batch and hand the rest back as `UnprocessedKeys` (under
 * throttling, or past 16 MB a response); those are asked again, with jittered exponential backoff
 * (AWS's advice for batch operations), until every key was answered. A key left unprocessed is
 * never read as "absent": after `maxRounds` the call throws `UnprocessedKeysError` instead of
 * answering with a hole.
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { forEachWithConcurrency } from './concurrency.js';
import type { Item } from './put-once.js';

/** Keys per `BatchGetItem` request: DynamoDB's limit. */
export const BATCH_GET_MAX_KEYS = 100;

export class UnprocessedKeysError extends Error {
  override name = 'UnprocessedKeysError';
}

export interface BatchGetOptions {
  /** Strongly consistent reads (the base table only). @default true */
  readonly consistent?: boolean;
  /** Requests per chunk of keys before giving up (the first one included). @default 8 */
  readonly maxRounds?: number;
  /** The wait between rounds (tests pass a recorder). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Chunks of 100 keys read at once. @default 4 */
  readonly concurrency?: number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Every existing item among `keys` (distinct keys, as DynamoDB requires), in no particular order; a
 * key with no item is simply not in the answer. Round `r` of a chunk waits up to `25 × 2^r` ms
 * (full jitter) before asking again: 8 rounds wait at most ~6 s in all.
 */
export async function batchGetAll<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  table: string,
  keys: readonly Item[],
  options: BatchGetOptions = {},
): Promise<T[]> {
  const consistent = options.consistent ?? true;
  const maxRounds = options.maxRounds ?? 8;
  const sleep = options.sleep ?? defaultSleep;
  const chunks: Item[][] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_MAX_KEYS) {
    chunks.push(keys.slice(start, start + BATCH_GET_MAX_KEYS));
  }
  const found: T[] = [];
  const readChunk = async (chunk: Item[]) => {
    let pending = chunk;
    for (let round = 0; pending.length > 0; round++) {
      if (round >= maxRounds) {
        throw new UnprocessedKeysError(
          `${pending.length} key(s) of ${table} still unprocessed after ${maxRounds} requests`,
        );
      }
      if (round > 0) await sleep(Math.random() * 25 * 2 ** round);
      const out = await ddb.send(
        new BatchGetCommand({
          RequestItems: { [table]: { Keys: pending, ConsistentRead: consistent } },
        }),
      );
      found.push(...((out.Responses?.[table] ?? []) as T[]));
      pending = out.UnprocessedKeys?.[table]?.Keys ?? [];
    }
  };
  await forEachWithConcurrency(chunks, options.concurrency ?? 4, readChunk);
  return found;
}
