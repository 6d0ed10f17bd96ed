/**
 * A rate limit shared by every concurrent worker, held in DynamoDB: "at most `ratePerSecond`
 * calls for this bucket", e.g. one WhatsApp phone number id at the tenant's messages per second.
 *
 * Time is cut into short windows (100 ms), each with an allowance: the rate spread evenly over the
 * windows of a second, so calls go out smoothly instead of in a burst at the top of each second.
 *
 * A take is a ticket. The windows of a 10 s epoch are booked in order through one counter item,
 * `TB#<bucket>#e<epoch>#<shard>`: one conditional update answers the taker's place in that queue,
 * and the place names its slot (a window, and a point inside it). The taker sleeps until then and
 * goes. So a token costs one write however many takers wait, where a "take if this window is not
 * full" condition costs ~W/A writes for W takers of a window of A tokens (every refusal charged).
 * The places of windows already begun are gone: a counter behind the clock is first moved up to
 * the current window. Which of the two writes comes first is what this process last saw of the
 * counter, so a busy bucket and a quiet one both pay one write, and only the turn between them
 * pays two. A queue booked to the end of its epoch sends the taker on to the next epoch's counter
 * at once (a process remembers it, so it pays that refusal once).
 *
 * What holds whatever the takers do: each place is handed out once (the counter only grows), each
 * window has as many places as its allowance, and a booking is refused past the last place the
 * taker can wait for (so giving up leaves no hole) and past the epoch's end (so no place of one
 * epoch falls in the next one's time). A token whose answer arrives after its window ended is not
 * used (booked again). A token is used in its own window, so any 100 ms window holds its allowance
 * and any second the rate plus one window's allowance; hosts whose clocks differ by `d` ms can add
 * about `rate × d / 1000` more.
 *
 * Every sender of a number books through the same epoch at once, so one counter would take every
 * write of that number (1,000 sends/s is 1,000 writes/s on one item: DynamoDB's 1,000 WCU/s per
 * partition). Each window's allowance is therefore split over `shardsFor(rate)` queues (at most
 * `TOKENS_PER_SHARD_WINDOW` tokens a window each), which a process books in turn from a random
 * start so it fills them evenly; no counter sees more than ~100 bookings/s. Items expire by TTL an
 * hour after their epoch. The arithmetic is in `docs/scale-campaigns.md`.
 *
 * A taker that knows more takes of this process will follow soon (`ahead`: the records running
 * beside it in its batch that may need a token) books `1 + ahead` consecutive places of one queue
 * with one write (`used + n`, same guards: the last of the n within what the taker can wait for and
 * within the epoch; fewer when the queue holds fewer) and keeps the places it does not use in a
 * pool of this process, per bucket, each with its slot; the next takes of the bucket use them,
 * earliest first, before booking. A booking of n is n places of its queue (the shard arithmetic is
 * unchanged) for one write. Takes that arrive while a booking is in flight wait for its places
 * rather than writing.
 * The rules above hold for each pooled place: it is handed out once (taken out of the pool), used in
 * its own window, and dropped, not used, when that window ended first. Places still pooled when the
 * invocation ends are lost unless a take of this process comes within their window: the rate can be
 * under-used, never exceeded (what that costs: `docs/scale-campaigns.md`). A take at another rate
 * drops the bucket's pool (a place is a slot only at the rate it was booked at; the counter is the
 * same item at either rate), and a booking made at the old rate and still in flight keeps only its
 * own taker's place when it lands (that take asked for the old rate, as a lone take would).
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
  /** Told of each token as it is handed out (tests check that no place is handed out twice). */
  readonly onToken?: (token: HandedToken) => void;
}

export interface TakeOptions {
  /**
   * Takes of this bucket this process expects beside this one (the records running beside it in
   * its batch that may need a token): booked with this one in one write. @default 0
   */
  readonly ahead?: number;
}

export interface TokenBucket {
  /** Waits for a token; false when none came within `maxWaitMs`. */
  take(bucket: string, ratePerSecond: number, options?: TakeOptions): Promise<boolean>;
}

/** A token: place `place` (1-based) of queue `shard` of `epoch`, used at `at` in window `window`. */
export interface HandedToken {
  readonly bucket: string;
  readonly ratePerSecond: number;
  readonly epoch: number;
  readonly shard: number;
  readonly place: number;
  readonly window: number;
  readonly at: number;
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

/** Bookings one take makes at most (each a write) before it gives up: never a busy loop. */
const MAX_BOOKINGS = 20;

/** Places one write books at most, whatever `ahead` says. */
export const MAX_PLACES_A_BOOKING = 100;

/** The first write of a booking: the next place, or (counter behind the clock) the floor's. */
type BookingWrite = 'next' | 'move-up';

export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const windowMs = options.windowMs ?? 100;
  const maxWaitMs = options.maxWaitMs ?? 15_000;
  /**
   * What this process last learned of each shard's counter (its epoch and count), to pick the first
   * write (move up a counter it saw behind the clock; skip one it saw booked up) and so spend one
   * write a token in the common cases. Only a hint: every place is decided by the counter's own
   * condition.
   */
  const seen = new Map<string, { readonly epoch: number; readonly used: number }>();
  const seenKey = (bucket: string, epoch: number, shard: number) => `${bucket}#${epoch}#${shard}`;
  function learn(bucket: string, epoch: number, shard: number, used: number) {
    if (seen.size >= 1024) {
      // Past epochs are never booked again.
      const current = Math.floor(now() / windowMs / WINDOWS_PER_EPOCH);
      for (const [key, value] of seen) if (value.epoch < current) seen.delete(key);
    }
    const key = seenKey(bucket, epoch, shard);
    seen.set(key, { epoch, used: Math.max(used, seen.get(key)?.used ?? 0) });
  }
  /** Shards are taken in turn from a random start, so one process fills them evenly. */
  let turn = Math.floor(Math.random() * 1_000_000);

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

  /** Places of `epoch` in shard `shard`'s queue whose slot is at `deadline` or before. */
  function placesUntil(
    deadline: number,
    epoch: number,
    rate: number,
    shards: number,
    shard: number,
  ) {
    let places = 0;
    const end = (epoch + 1) * WINDOWS_PER_EPOCH;
    for (let w = epoch * WINDOWS_PER_EPOCH; w < end && w * windowMs <= deadline; w++) {
      const part = partOf(w, rate, shards, shard);
      places += Math.min(part, Math.floor(((deadline - w * windowMs) * part) / windowMs) + 1);
    }
    return places;
  }

  /** The window of place `place` (1-based) of `epoch` in shard `shard`'s queue, and its slot in it. */
  function slotOf(place: number, epoch: number, rate: number, shards: number, shard: number) {
    let before = 0;
    let w = epoch * WINDOWS_PER_EPOCH;
    for (; before + partOf(w, rate, shards, shard) < place; w++)
      before += partOf(w, rate, shards, shard);
    // Spread a window's places evenly across it.
    const at = w * windowMs + ((place - before - 1) * windowMs) / partOf(w, rate, shards, shard);
    return { window: w, at };
  }

  function counter(bucket: string, epoch: number, shard: number) {
    return {
      TableName: options.table,
      Key: { pk: `TB#${bucket}#e${epoch}#${shard}`, sk: 'TB' },
    };
  }

  /**
   * One write on a shard's counter, booking `count` consecutive places: `next` takes the places
   * after the last one (from the floor when the counter is new) while that is at or past the
   * `floor` (places of windows already begun) and the last of them within `limit` (places the taker
   * can wait for); `move-up` takes the floor's next `count` places while the counter is at or
   * behind it. The caller keeps `count` within what the queue holds (`floor + count ≤ limit` for a
   * move-up). The answer: the last place booked, or the count that refused it (undefined when
   * DynamoDB gave none).
   */
  async function write(
    bucket: string,
    epoch: number,
    shard: number,
    kind: BookingWrite,
    floor: number,
    limit: number,
    count: number,
  ): Promise<{ place: number } | { refusedAt?: number }> {
    const ttl = Math.floor(((epoch + 1) * WINDOWS_PER_EPOCH * windowMs) / 1000) + 3600;
    const update =
      kind === 'next'
        ? {
            UpdateExpression:
              'SET used = if_not_exists(used, :floor) + :n, expiresAt = if_not_exists(expiresAt, :ttl)',
            // `used + n <= limit`, written as `used <= limit - n` (a condition does no arithmetic).
            ConditionExpression: 'attribute_not_exists(used) OR (used >= :floor AND used <= :last)',
            ExpressionAttributeValues: {
              ':floor': floor,
              ':last': limit - count,
              ':n': count,
              ':ttl': ttl,
            },
          }
        : {
            UpdateExpression: 'SET used = :next, expiresAt = if_not_exists(expiresAt, :ttl)',
            ConditionExpression: 'attribute_not_exists(used) OR used <= :floor',
            ExpressionAttributeValues: { ':floor': floor, ':next': floor + count, ':ttl': ttl },
          };
    try {
      const answer = await options.ddb.send(
        new UpdateCommand({
          ...counter(bucket, epoch, shard),
          ...update,
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { place: Number(answer.Attributes?.used) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const used = error.Item ? Number(unmarshall(error.Item).used) : Number.NaN;
      return Number.isFinite(used) ? { refusedAt: used } : {};
    }
  }

  /**
   * Up to `want` consecutive places in shard `shard`'s queue of `epoch` within [floor, limit), as
   * many as the queue holds there: the first and how many; `full` when it holds none (or DynamoDB
   * did not say why it refused), `moved` when another taker moved the counter between our two
   * writes (book again).
   */
  async function book(
    bucket: string,
    epoch: number,
    shard: number,
    floor: number,
    limit: number,
    want: number,
  ): Promise<{ first: number; count: number } | 'full' | 'moved'> {
    const last = seen.get(seenKey(bucket, epoch, shard));
    // Seen booked up to what this taker may wait for: counts only grow, so no write can help.
    if (last && last.used >= limit) return 'full';
    let kind: BookingWrite = last && last.used < floor ? 'move-up' : 'next';
    // Where the places would start, as far as this process knows: sizes the booking to the room.
    let from = kind === 'next' ? Math.max(floor, last?.used ?? floor) : floor;
    // The other write second: the counter was ahead of what we thought (next, with the room left),
    // or behind it (move up).
    for (let attempt = 0; attempt < 2; attempt++) {
      const count = Math.min(want, limit - from);
      const answer = await write(bucket, epoch, shard, kind, floor, limit, count);
      if ('place' in answer) {
        learn(bucket, epoch, shard, answer.place);
        return { first: answer.place - count + 1, count };
      }
      if (answer.refusedAt === undefined) return attempt === 0 ? 'full' : 'moved';
      learn(bucket, epoch, shard, answer.refusedAt);
      if (answer.refusedAt >= limit) return 'full';
      kind = answer.refusedAt < floor ? 'move-up' : 'next';
      from = kind === 'next' ? answer.refusedAt : floor;
    }
    return 'moved';
  }

  /** Whether a place's window has not ended at `at`: a place is used only inside its window. */
  const stillOpen = (at: number) => (place: HandedToken) => at < (place.window + 1) * windowMs;

  /**
   * Up to `want` places of `bucket` whose windows have not ended, the earliest first, none past
   * `deadline`; empty when none came within the bookings one take may make.
   */
  async function bookPlaces(
    bucket: string,
    ratePerSecond: number,
    want: number,
    deadline: number,
  ): Promise<HandedToken[]> {
    const shards = shardsFor(ratePerSecond, windowMs);
    let epoch = Math.floor(now() / windowMs / WINDOWS_PER_EPOCH);
    // Counters of `epoch` found booked up to what we may wait for: after every shard, the next epoch.
    let full = 0;
    // This take's shards in turn, from the process's next one: after `shards` full, all were.
    const first = turn++;
    for (let bookings = 0, tries = 0; ; tries++) {
      if (epoch * WINDOWS_PER_EPOCH * windowMs > deadline || bookings >= MAX_BOOKINGS) return [];
      const index = Math.floor(now() / windowMs);
      epoch = Math.max(epoch, Math.floor(index / WINDOWS_PER_EPOCH));
      const shard = (first + tries) % shards;
      const floor = placesBefore(index, epoch, ratePerSecond, shards, shard);
      const limit = placesUntil(deadline, epoch, ratePerSecond, shards, shard);
      let booked: { first: number; count: number } | 'full' | 'moved' = 'full';
      if (floor < limit) {
        bookings += 1;
        booked = await book(bucket, epoch, shard, floor, limit, want);
      }
      if (booked === 'full') {
        if (++full >= shards) {
          epoch += 1;
          full = 0;
        }
        continue;
      }
      if (booked === 'moved') continue;
      const places: HandedToken[] = [];
      for (let place = booked.first; place < booked.first + booked.count; place++) {
        const slot = slotOf(place, epoch, ratePerSecond, shards, shard);
        places.push({ bucket, ratePerSecond, epoch, shard, place, ...slot });
      }
      // Answered after a place's window ended: that token goes unused.
      const usable = places.filter(stillOpen(now()));
      if (usable.length > 0) return usable;
      // None left: book again.
    }
  }

  /** A booking in flight: how many of its places are not yet promised to a waiting take. */
  interface Booking {
    unclaimed: number;
    readonly landed: Promise<void>;
  }
  /** A bucket's places booked by this process and not yet handed out, at the rate they were booked at. */
  interface Pool {
    readonly ratePerSecond: number;
    /** Earliest first. */
    places: HandedToken[];
    readonly bookings: Set<Booking>;
  }
  const pools = new Map<string, Pool>();

  /** The bucket's pool at this rate: a pool of another rate is dropped, its places unused. */
  function poolFor(bucket: string, ratePerSecond: number): Pool {
    const current = pools.get(bucket);
    if (current?.ratePerSecond === ratePerSecond) return current;
    if (pools.size >= 1024) {
      // Places whose window ended are worth nothing: drop them, then the pools left empty.
      const open = stillOpen(now());
      for (const [key, pool] of pools) {
        pool.places = pool.places.filter(open);
        if (pool.places.length === 0 && pool.bookings.size === 0) pools.delete(key);
      }
    }
    const pool: Pool = { ratePerSecond, places: [], bookings: new Set() };
    pools.set(bucket, pool);
    return pool;
  }

  /**
   * The pool's earliest place whose window has not ended and that this taker can wait for (at or
   * before its `deadline`); places that ended are dropped, later ones stay for other takes.
   */
  function fromPool(pool: Pool, deadline: number): HandedToken | undefined {
    pool.places = pool.places.filter(stillOpen(now()));
    const index = pool.places.findIndex((place) => place.at <= deadline);
    if (index < 0) return undefined;
    const [place] = pool.places.splice(index, 1);
    return place;
  }

  async function use(token: HandedToken): Promise<true> {
    options.onToken?.(token);
    const wait = token.at - now();
    if (wait > 0) await sleep(wait);
    return true;
  }

  return {
    async take(bucket, ratePerSecond, takeOptions = {}) {
      if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
      const deadline = now() + maxWaitMs;
      const ahead = Math.max(0, Math.floor(takeOptions.ahead ?? 0));
      const want = Math.min(MAX_PLACES_A_BOOKING, 1 + ahead);
      const pool = poolFor(bucket, ratePerSecond);
      for (;;) {
        const pooled = fromPool(pool, deadline);
        if (pooled) return use(pooled);
        // A booking in flight with a place to spare: wait for it instead of writing.
        const inFlight = [...pool.bookings].find((b) => b.unclaimed > 0);
        if (inFlight) {
          inFlight.unclaimed -= 1;
          await inFlight.landed;
          continue;
        }
        let land = () => {};
        const booking: Booking = {
          unclaimed: want - 1,
          landed: new Promise<void>((resolve) => {
            land = resolve;
          }),
        };
        pool.bookings.add(booking);
        let mine: HandedToken | undefined;
        try {
          const [first, ...rest] = await bookPlaces(bucket, ratePerSecond, want, deadline);
          mine = first;
          // The others pooled before the waiters wake, and only while the bucket is still taken
          // at this rate.
          if (rest.length > 0 && pools.get(bucket) === pool) {
            pool.places = [...pool.places, ...rest].sort((a, b) => a.at - b.at);
          }
        } finally {
          pool.bookings.delete(booking);
          land();
        }
        return mine ? use(mine) : false;
      }
    },
  };
}
