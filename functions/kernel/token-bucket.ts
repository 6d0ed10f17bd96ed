/**
 * A rate limit shared by every concurrent worker, held in DynamoDB: "at most `ratePerSecond`
 * calls for this bucket", e.g. one WhatsApp phone number id at the tenant's messages per second.
 *
 * Time is cut into short windows (100 ms). Each window has its own item, `TB#<bucket>#<window>`,
 * and an allowance: the rate spread evenly over the windows of a second, so calls go out smoothly
 * instead of in a burst at the top of each second. Taking a token is one conditional `ADD`
 * (no read, no optimistic retry loop); a full window means waiting for the next one. Items expire
 * by TTL an hour later.
 *
 * Every sender of a number meets the same window at the same moment, so one item per window would
 * take every write of that number while it is current (1,000 sends/s is 1,000 writes/s on one item
 * plus the refused attempts: over DynamoDB's 1,000 WCU/s per partition). Each window's allowance is
 * therefore split over `shardsFor(rate)` items (`TB#<bucket>#<window>#<shard>`, at most
 * `TOKENS_PER_SHARD_WINDOW` tokens each): a taker tries one shard at random per window, so no item
 * sees more than ~100 accepted writes/s, plus the refusals of the waiters that picked it. The
 * arithmetic is in `docs/scale-campaigns.md`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

export interface TokenBucketOptions {
  readonly ddb: DynamoDBDocumentClient;
  readonly table: string;
  /** Real time in ms; a rate limit is about wall-clock time, not the domain clock. @default Date.now */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default 100 */
  readonly windowMs?: number;
  /** Give up after waiting this long (the caller retries later). @default 15000 */
  readonly maxWaitMs?: number;
}

export interface TokenBucket {
  /** Waits for a token; false when none came within `maxWaitMs`. */
  take(bucket: string, ratePerSecond: number): Promise<boolean>;
}

/** Calls window `index` may carry at `ratePerSecond`, spread so any second holds the rate. */
export function windowAllowance(index: number, ratePerSecond: number, windowMs: number): number {
  const perWindow = (ratePerSecond * windowMs) / 1000;
  return Math.floor((index + 1) * perWindow + 1e-9) - Math.floor(index * perWindow + 1e-9);
}

/** Tokens one shard item of one window carries at most (100 ms windows → ≤ 100 writes/s). */
export const TOKENS_PER_SHARD_WINDOW = 10;

/** Shard items per window at `ratePerSecond`. */
export function shardsFor(ratePerSecond: number, windowMs = 100): number {
  return Math.max(1, Math.ceil((ratePerSecond * windowMs) / 1000 / TOKENS_PER_SHARD_WINDOW));
}

/** The part of a window's `allowance` that shard `shard` of `shards` carries (parts sum exactly). */
export function shardAllowance(allowance: number, shards: number, shard: number): number {
  return Math.floor(((shard + 1) * allowance) / shards) - Math.floor((shard * allowance) / shards);
}

export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const windowMs = options.windowMs ?? 100;
  const maxWaitMs = options.maxWaitMs ?? 15_000;

  async function tryShard(
    bucket: string,
    index: number,
    shard: number,
    allowance: number,
  ): Promise<boolean> {
    try {
      await options.ddb.send(
        new UpdateCommand({
          TableName: options.table,
          Key: { pk: `TB#${bucket}#${index}#${shard}`, sk: 'TB' },
          UpdateExpression: 'ADD used :one SET expiresAt = if_not_exists(expiresAt, :ttl)',
          ConditionExpression: 'attribute_not_exists(used) OR used < :allow',
          ExpressionAttributeValues: {
            ':one': 1,
            ':allow': allowance,
            ':ttl': Math.floor((index * windowMs) / 1000) + 3600,
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * One attempt at window `index`, on one shard picked at random: a refusal costs a write too, so a
   * taker never walks the shards (200 waiters walking 10 shards would be 2,000 writes a window).
   * With more waiters than a shard has tokens, every shard fills; with fewer, none is ever full.
   */
  async function tryWindow(bucket: string, index: number, ratePerSecond: number): Promise<boolean> {
    const allowance = windowAllowance(index, ratePerSecond, windowMs);
    if (allowance <= 0) return false;
    const shards = shardsFor(ratePerSecond, windowMs);
    const shard = Math.floor(Math.random() * shards);
    const part = shardAllowance(allowance, shards, shard);
    return part > 0 && tryShard(bucket, index, shard, part);
  }

  return {
    async take(bucket, ratePerSecond) {
      if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
      const deadline = now() + maxWaitMs;
      let index = Math.floor(now() / windowMs);
      for (;;) {
        if (await tryWindow(bucket, index, ratePerSecond)) return true;
        // This window is spent: wait for the next one, with a little jitter so waiters spread.
        const current = Math.floor(now() / windowMs);
        index = Math.max(index + 1, current);
        const wait = index * windowMs - now() + Math.random() * (windowMs / 4);
        if (now() + Math.max(0, wait) > deadline) return false;
        if (wait > 0) await sleep(wait);
      }
    },
  };
}
