/**
 * A rate limit shared by every concurrent worker, held in DynamoDB: "at most `ratePerSecond`
 * calls for this bucket", e.g. one WhatsApp phone number id at the tenant's messages per second.
 *
 * Time is cut into short windows (100 ms), each with an allowance: the rate spread evenly over the
 * windows of a second, so calls go out smoothly instead of in a burst at the top of each second.
 *
 * A take is a ticket. The windows of a 10 s epoch are booked in order through one counter item,
 * `TB#<bucket>#e<epoch>#<shard>`: one `ADD` answers the taker's place in that queue, and the place
 * names its slot (a window, and a point inside it). The taker sleeps until then and goes. So a
 * token costs **one write** however many takers wait: a taker never writes again because others
 * got there first, as it would with a "take if this window is not full" condition (with W takers
 * for a window of A tokens, ~W/A writes a token, every refused one charged). The places of windows
 * already begun are gone: a take that finds the counter behind the clock (nobody took those slots)
 * moves it up to the current window first, one more write, which only an idle bucket pays.
 *
 * A window never hands out more than its allowance, whatever the takers do: each place maps to one
 * slot, each window has as many places as its allowance. A taker whose slot is further away than
 * it may wait (`maxWaitMs`) gives its place up, leaving a hole, never an extra token.
 *
 * Every sender of a number books through the same epoch at once, so one counter would take every
 * write of that number (1,000 sends/s is 1,000 writes/s on one item: DynamoDB's 1,000 WCU/s per
 * partition). Each window's allowance is therefore split over `shardsFor(rate)` queues (at most
 * `TOKENS_PER_SHARD_WINDOW` tokens a window each); a taker books on one picked at random, so no
 * counter sees more than ~100 writes/s. Items expire by TTL an hour after their epoch. The
 * arithmetic is in `docs/scale-campaigns.md`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

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

/** Tokens one shard's queue books in one window at most (100 ms windows → ≤ 100 writes/s). */
export const TOKENS_PER_SHARD_WINDOW = 10;

/** Windows one counter item books: 10 s of 100 ms windows. */
export const WINDOWS_PER_EPOCH = 100;

/** Shard queues per window at `ratePerSecond`. */
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

  /** The tokens shard `shard` books in window `index`. */
  function partOf(index: number, rate: number, shards: number, shard: number): number {
    return shardAllowance(windowAllowance(index, rate, windowMs), shards, shard);
  }

  /** Places the windows of `epoch` before window `index` hold in shard `shard`'s queue. */
  function placesBefore(index: number, epoch: number, rate: number, shards: number, shard: number) {
    let places = 0;
    for (let w = epoch * WINDOWS_PER_EPOCH; w < index; w++)
      places += partOf(w, rate, shards, shard);
    return places;
  }

  /** When place `place` (1-based) of `epoch` in shard `shard`'s queue may go. */
  function slotOf(place: number, epoch: number, rate: number, shards: number, shard: number) {
    let before = 0;
    let w = epoch * WINDOWS_PER_EPOCH;
    for (; before + partOf(w, rate, shards, shard) < place; w++)
      before += partOf(w, rate, shards, shard);
    // Spread a window's places evenly across it.
    return w * windowMs + ((place - before - 1) * windowMs) / partOf(w, rate, shards, shard);
  }

  function counter(bucket: string, epoch: number, shard: number) {
    return {
      TableName: options.table,
      Key: { pk: `TB#${bucket}#e${epoch}#${shard}`, sk: 'TB' },
      ReturnValues: 'UPDATED_NEW' as const,
    };
  }

  /**
   * One place in shard `shard`'s queue of `epoch`, after the `floor` places of windows already
   * begun and before `limit` (the first place the taker could not wait for). The next place when
   * the queue is ahead of the clock; else, one more write, the current window's first place.
   * `full` when the queue is booked up to `limit`; `moved` when another taker moved the counter
   * between our two writes (book again).
   */
  async function book(
    bucket: string,
    epoch: number,
    shard: number,
    floor: number,
    limit: number,
  ): Promise<number | 'full' | 'moved'> {
    const ttl = Math.floor(((epoch + 1) * WINDOWS_PER_EPOCH * windowMs) / 1000) + 3600;
    try {
      const answer = await options.ddb.send(
        new UpdateCommand({
          ...counter(bucket, epoch, shard),
          UpdateExpression:
            'SET used = if_not_exists(used, :floor) + :one, expiresAt = if_not_exists(expiresAt, :ttl)',
          ConditionExpression: 'attribute_not_exists(used) OR (used >= :floor AND used < :limit)',
          ExpressionAttributeValues: { ':floor': floor, ':limit': limit, ':one': 1, ':ttl': ttl },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return Number(answer.Attributes?.used);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (Number(error.Item ? unmarshall(error.Item).used : 0) >= limit) return 'full';
    }
    // Behind the clock: the slots of windows already begun went unused. Move up to this window.
    try {
      await options.ddb.send(
        new UpdateCommand({
          ...counter(bucket, epoch, shard),
          UpdateExpression: 'SET used = :next',
          ConditionExpression: 'used < :floor',
          ExpressionAttributeValues: { ':floor': floor, ':next': floor + 1 },
        }),
      );
      return floor + 1;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'moved';
      throw error;
    }
  }

  return {
    async take(bucket, ratePerSecond) {
      if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
      const deadline = now() + maxWaitMs;
      const lastWindow = Math.floor(deadline / windowMs);
      const shards = shardsFor(ratePerSecond, windowMs);
      // Queues found booked up to what we may wait for; with several shards, another may have room.
      let full = 0;
      for (;;) {
        const index = Math.floor(now() / windowMs);
        const epoch = Math.floor(index / WINDOWS_PER_EPOCH);
        const epochEnd = (epoch + 1) * WINDOWS_PER_EPOCH;
        const shard = Math.floor(Math.random() * shards);
        const floor = placesBefore(index, epoch, ratePerSecond, shards, shard);
        const limit = placesBefore(
          Math.min(lastWindow, epochEnd),
          epoch,
          ratePerSecond,
          shards,
          shard,
        );
        const place = floor < limit ? await book(bucket, epoch, shard, floor, limit) : 'full';
        if (place === 'moved') continue;
        if (place !== 'full') {
          const wait = slotOf(place, epoch, ratePerSecond, shards, shard) - now();
          if (wait > 0) await sleep(wait);
          return true;
        }
        if (lastWindow >= epochEnd) {
          // Booked up to the end of this epoch, and we may wait past it: book in the next one.
          await sleep(epochEnd * windowMs - now());
          continue;
        }
        if (++full >= shards) return false;
      }
    },
  };
}
