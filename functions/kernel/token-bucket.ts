/**
 * A rate limit shared by every concurrent worker, held in DynamoDB: "at most `ratePerSecond`
 * calls for this bucket", e.g. one WhatsApp phone number id at the tenant's messages per second.
 *
 * Time is cut into short windows (100 ms). Each window has its own item, `TB#<bucket>#<window>`,
 * and an allowance: the rate spread evenly over the windows of a second, so calls go out smoothly
 * instead of in a burst at the top of each second. Taking a token is one conditional `ADD`
 * (no read, no optimistic retry loop); a full window means waiting for the next one. Because every
 * window is a new partition key, no item is written for more than 100 ms and nothing runs hot,
 * whatever the rate; items expire by TTL an hour later.
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

export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const windowMs = options.windowMs ?? 100;
  const maxWaitMs = options.maxWaitMs ?? 15_000;

  async function tryWindow(bucket: string, index: number, allowance: number): Promise<boolean> {
    try {
      await options.ddb.send(
        new UpdateCommand({
          TableName: options.table,
          Key: { pk: `TB#${bucket}#${index}`, sk: 'TB' },
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

  return {
    async take(bucket, ratePerSecond) {
      if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
      const deadline = now() + maxWaitMs;
      let index = Math.floor(now() / windowMs);
      for (;;) {
        const allowance = windowAllowance(index, ratePerSecond, windowMs);
        if (allowance > 0 && (await tryWindow(bucket, index, allowance))) return true;
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
