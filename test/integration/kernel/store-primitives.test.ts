/**
 * The exactly-once primitives against the real DynamoDB Local: each race here would produce two
 * winners if the primitive were a read-then-write.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { type AtomicWrite, writeAtomically } from '../../../functions/kernel/atomic.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { conditionalUpdate } from '../../../functions/kernel/conditional-update.js';
import { tableName } from '../../../functions/kernel/config.js';
import {
  claimLease,
  leaseHeldBy,
  leaseHeldByEach,
  releaseLease,
} from '../../../functions/kernel/lease.js';
import { putOnce } from '../../../functions/kernel/put-once.js';
import { retryOnConflict } from '../../../functions/kernel/retry.js';
import { transition } from '../../../functions/kernel/transition.js';
import { raceTrials } from '../../support/race.js';

const table = () => tableName('inbound');
const key = () => ({ pk: `TEST#${randomUUID()}`, sk: 'ITEM' });

async function read(k: { pk: string; sk: string }) {
  return (await ddb.send(new GetCommand({ TableName: table(), Key: k, ConsistentRead: true })))
    .Item;
}

describe('putOnce', () => {
  it('50 concurrent creates of one key → exactly one created, the rest see the winner', async () => {
    // Prepare
    const k = key();
    // Act
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, writer) =>
        putOnce(ddb, { table: table(), item: { ...k, writer } }),
      ),
    );
    // Assess
    const winners = results.filter((r) => r.created);
    expect(winners).toHaveLength(1);
    const winner = winners[0]?.created ? winners[0].item.writer : undefined;
    for (const r of results) {
      if (!r.created) expect(r.existing.writer).toBe(winner);
    }
    expect((await read(k))?.writer).toBe(winner);
  });
});

describe('transition', () => {
  it('a transition racing itself has exactly one winner', async () => {
    // Prepare
    const k = key();
    await putOnce(ddb, { table: table(), item: { ...k, status: 'pending' } });
    // Act
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, worker) =>
        transition(ddb, {
          table: table(),
          key: k,
          from: ['pending'],
          to: 'sending',
          set: { worker },
        }),
      ),
    );
    // Assess
    expect(results.filter((r) => r.applied)).toHaveLength(1);
    const losers = results.filter((r) => !r.applied);
    expect(losers).toHaveLength(19);
    for (const r of losers) {
      expect(r).toMatchObject({
        applied: false,
        failed: 'transition',
        current: { status: 'sending' },
      });
    }
  });

  it('moves a counter with the state, or neither, and says which guard failed', async () => {
    // Prepare
    const item = key();
    const counter = key();
    await putOnce(ddb, {
      table: table(),
      item: { ...item, status: 'sending' },
    });
    await putOnce(ddb, {
      table: table(),
      item: { ...counter, sent: 0, locked: true },
    });
    const bump = (condition?: string) => ({
      label: 'counter',
      update: {
        table: table(),
        key: counter,
        update: 'ADD sent :one',
        values: { ':one': 1, ...(condition ? { ':f': false } : {}) },
        ...(condition ? { condition } : {}),
      },
    });
    // Act: the counter's own guard fails → the state must not move either.
    const blocked = await transition(ddb, {
      table: table(),
      key: item,
      from: ['sending'],
      to: 'sent',
      with: [bump('locked = :f')],
    });
    const applied = await transition(ddb, {
      table: table(),
      key: item,
      from: ['sending'],
      to: 'sent',
      with: [bump()],
    });
    const replay = await transition(ddb, {
      table: table(),
      key: item,
      from: ['sending'],
      to: 'sent',
      with: [bump()],
    });
    // Assess
    expect(blocked).toMatchObject({ applied: false, failed: 'counter' });
    expect(applied).toEqual({ applied: true });
    expect(replay).toMatchObject({
      applied: false,
      failed: 'transition',
      current: { status: 'sent' },
    });
    expect((await read(counter))?.sent).toBe(1);
    expect((await read(item))?.status).toBe('sent');
  });
});

describe('writeAtomically', () => {
  it('writes all or nothing and reports the failed label with the item as it stood', async () => {
    const a = key();
    const b = key();
    await putOnce(ddb, { table: table(), item: { ...b, owner: 'someone' } });
    const result = await writeAtomically(ddb, [
      {
        label: 'a',
        put: {
          table: table(),
          item: { ...a, v: 1 },
          condition: 'attribute_not_exists(pk)',
        },
      },
      {
        label: 'b',
        put: {
          table: table(),
          item: { ...b, v: 1 },
          condition: 'attribute_not_exists(pk)',
        },
      },
    ]);
    expect(result).toMatchObject({
      ok: false,
      failed: 'b',
      current: { owner: 'someone' },
    });
    expect(await read(a)).toBeUndefined();
  });
});

describe('leases', () => {
  it('a lease is taken over only after it expires (clock, no sleep)', async () => {
    // Prepare
    const k = key();
    const clock = new ManualClock();
    await putOnce(ddb, { table: table(), item: { ...k, status: 'sending' } });
    const claim = (owner: string) =>
      claimLease(ddb, {
        table: table(),
        key: k,
        owner,
        leaseSeconds: 60,
        clock,
        increment: 'attempts',
      });
    // Act / Assess
    expect((await claim('worker-a')).claimed).toBe(true);
    clock.advance(59_000);
    expect(await claim('worker-b')).toMatchObject({
      claimed: false,
      current: { leaseOwner: 'worker-a' },
    });
    clock.advance(1_000);
    const takeover = await claim('worker-b');
    expect(takeover).toMatchObject({
      claimed: true,
      item: { leaseOwner: 'worker-b', attempts: 2 },
    });
    // The old owner can neither release nor write under its stale lease.
    expect(await releaseLease(ddb, { table: table(), key: k, owner: 'worker-a' })).toBe(false);
    const stale = await transition(ddb, {
      table: table(),
      key: k,
      from: ['sending'],
      to: 'sent',
      also: leaseHeldBy('worker-a'),
    });
    expect(stale.applied).toBe(false);
    expect(await releaseLease(ddb, { table: table(), key: k, owner: 'worker-b' })).toBe(true);
  });

  it('concurrent claims of a free item → one owner', async () => {
    const k = key();
    const clock = new ManualClock();
    await putOnce(ddb, { table: table(), item: { ...k, status: 'pending' } });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        claimLease(ddb, {
          table: table(),
          key: k,
          owner: `w${i}`,
          leaseSeconds: 30,
          clock,
        }),
      ),
    );
    expect(results.filter((r) => r.claimed)).toHaveLength(1);
  });

  it('leases on map entries of one item: each entry has one owner at a time, independently', async () => {
    const clock = new ManualClock();
    const entry = (type: string) => ['jobs', type];
    const claim = (k: { pk: string; sk: string }, type: string, owner: string) =>
      claimLease(ddb, {
        table: table(),
        key: k,
        owner,
        leaseSeconds: 30,
        clock,
        at: entry(type),
        set: { status: 'running' },
        increment: 'attempts',
        update: { set: { touchedBy: owner } },
      });
    const fresh = { status: 'pending', attempts: 0 };
    await raceTrials({
      trials: 8,
      maxStaggerMs: 10,
      setup: async () => {
        const k = key();
        await putOnce(ddb, { table: table(), item: { ...k, jobs: { a: fresh, b: fresh } } });
        return k;
      },
      contenders: (k) => [
        ...['w1', 'w2', 'w3'].map((owner) => () => claim(k, 'a', owner)),
        ...['w4', 'w5', 'w6'].map((owner) => () => claim(k, 'b', owner)),
      ],
      check: async (k, outcomes) => {
        const won = outcomes.map(
          (o) => o.status === 'fulfilled' && (o.value as { claimed: boolean }).claimed,
        );
        // One winner per entry: a claim of one entry never blocks or overwrites the other.
        expect(won.slice(0, 3).filter(Boolean)).toHaveLength(1);
        expect(won.slice(3).filter(Boolean)).toHaveLength(1);
        const item = await read(k);
        expect(item?.jobs.a).toMatchObject({ status: 'running', attempts: 1 });
        expect(item?.jobs.b).toMatchObject({ status: 'running', attempts: 1 });
        expect([item?.jobs.a.leaseOwner]).toContain(['w1', 'w2', 'w3'][won.indexOf(true)]);
      },
    });

    // Takeover after expiry, and release only by the holder, on one entry.
    const k = key();
    await putOnce(ddb, { table: table(), item: { ...k, jobs: { a: fresh, b: fresh } } });
    expect((await claim(k, 'a', 'x')).claimed).toBe(true);
    clock.advance(29_000);
    expect((await claim(k, 'a', 'y')).claimed).toBe(false);
    clock.advance(1_000);
    expect(await claim(k, 'a', 'y')).toMatchObject({
      claimed: true,
      item: { jobs: { a: { leaseOwner: 'y', attempts: 2 } } },
    });
    expect(await releaseLease(ddb, { table: table(), key: k, owner: 'x', at: entry('a') })).toBe(
      false,
    );
    expect(await releaseLease(ddb, { table: table(), key: k, owner: 'y', at: entry('a') })).toBe(
      true,
    );
    const item = await read(k);
    expect(item?.jobs.a.leaseOwner).toBeUndefined();
    expect(item?.jobs.b).toEqual(fresh);
  });

  it('several map entries leased in one write (atEach): all or none, one owner and expiry; held only while each is', async () => {
    // Prepare
    const clock = new ManualClock();
    const entries = [
      ['jobs', 'a'],
      ['jobs', 'b'],
    ];
    const claimBoth = (k: { pk: string; sk: string }, owner: string) =>
      claimLease(ddb, {
        table: table(),
        key: k,
        owner,
        leaseSeconds: 30,
        clock,
        atEach: entries,
        set: { status: 'running' },
        increment: 'attempts',
      });
    const claimOne = (k: ReturnType<typeof key>, owner: string, entry: string) =>
      claimLease(ddb, {
        table: table(),
        key: k,
        owner,
        leaseSeconds: 30,
        clock,
        at: ['jobs', entry],
      });
    const fresh = { status: 'pending', attempts: 0 };
    const k = key();
    await putOnce(ddb, { table: table(), item: { ...k, jobs: { a: fresh, b: fresh } } });
    // b is held by another worker: the claim of both is refused whole, and a stays untouched.
    expect((await claimOne(k, 'other', 'b')).claimed).toBe(true);
    expect(await claimBoth(k, 'me')).toMatchObject({ claimed: false });
    expect((await read(k))?.jobs.a).toEqual(fresh);
    // Once b's lease expired, one write takes both, with one owner and one expiry.
    clock.advance(30_000);
    const both = await claimBoth(k, 'me');
    expect(both.claimed).toBe(true);
    const item = await read(k);
    expect(item?.jobs.a).toMatchObject({ status: 'running', attempts: 1, leaseOwner: 'me' });
    expect(item?.jobs.b).toMatchObject({ status: 'running', attempts: 1, leaseOwner: 'me' });
    expect(item?.jobs.a.leaseExpiresAt).toBe(item?.jobs.b.leaseExpiresAt);
    // A write guarded on holding both: refused once either is taken over.
    const settle = () =>
      conditionalUpdate(ddb, {
        table: table(),
        key: k,
        set: { settled: true },
        conditions: [leaseHeldByEach('me', entries)],
      });
    clock.advance(30_000);
    expect((await claimOne(k, 'other', 'a')).claimed).toBe(true);
    expect((await settle()).applied).toBe(false);
    expect(await claimBoth(k, 'other')).toMatchObject({ claimed: true });
    expect((await settle()).applied).toBe(false);
    expect(
      (
        await conditionalUpdate(ddb, {
          table: table(),
          key: k,
          set: { settled: true },
          conditions: [leaseHeldByEach('other', entries)],
        })
      ).applied,
    ).toBe(true);
  });

  it('a claim with companion writes moves them together: concurrent claims count once', async () => {
    // Prepare
    const k = key();
    const counter = key();
    const clock = new ManualClock();
    await putOnce(ddb, { table: table(), item: { ...k, status: 'pending', attempts: 0 } });
    const counterMove: AtomicWrite = {
      label: 'counter',
      update: {
        table: table(),
        key: counter,
        update: 'ADD claims :one',
        values: { ':one': 1 },
      },
    };
    // Act
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        retryOnConflict(() =>
          claimLease(ddb, {
            table: table(),
            key: k,
            owner: `w${i}`,
            leaseSeconds: 30,
            clock,
            increment: 'attempts',
            set: { status: 'sending' },
            also: {
              expression: '#st = :pending',
              names: { '#st': 'status' },
              values: { ':pending': 'pending' },
            },
            with: [counterMove],
          }),
        ),
      ),
    );
    // Assess
    expect(results.filter((r) => r.claimed)).toHaveLength(1);
    expect(results.filter((r) => !r.claimed && r.failed === 'lease')).toHaveLength(9);
    expect(await read(k)).toMatchObject({ status: 'sending', attempts: 1 });
    expect((await read(counter))?.claims).toBe(1);
  });

  it('a claim whose companion condition fails writes nothing', async () => {
    // Prepare
    const k = key();
    const guard = key();
    await putOnce(ddb, { table: table(), item: { ...k, status: 'pending' } });
    await putOnce(ddb, { table: table(), item: { ...guard, isOpen: false } });
    // Act
    const result = await claimLease(ddb, {
      table: table(),
      key: k,
      owner: 'w1',
      leaseSeconds: 30,
      clock: new ManualClock(),
      with: [
        {
          label: 'gate',
          check: { table: table(), key: guard, condition: 'isOpen = :t', values: { ':t': true } },
        },
      ],
    });
    // Assess
    expect(result).toMatchObject({ claimed: false, failed: 'gate', current: { isOpen: false } });
    expect(await read(k)).toEqual({ ...k, status: 'pending' });
  });

  it('a release with its end state and companions happens only for the holder', async () => {
    // Prepare
    const k = key();
    const counter = key();
    const clock = new ManualClock();
    await putOnce(ddb, { table: table(), item: { ...k, status: 'sending', sweepAt: 'x' } });
    expect(
      (await claimLease(ddb, { table: table(), key: k, owner: 'a', leaseSeconds: 30, clock }))
        .claimed,
    ).toBe(true);
    const release = (owner: string) =>
      releaseLease(ddb, {
        table: table(),
        key: k,
        owner,
        set: { status: 'failed' },
        remove: ['sweepAt'],
        also: {
          expression: '#st = :sending',
          names: { '#st': 'status' },
          values: { ':sending': 'sending' },
        },
        with: [
          {
            label: 'counter',
            update: {
              table: table(),
              key: counter,
              update: 'ADD failed :one',
              values: { ':one': 1 },
            },
          },
        ],
      });
    // Act / Assess
    expect(await release('b')).toBe(false);
    expect(await read(counter)).toBeUndefined();
    expect(await release('a')).toBe(true);
    expect(await release('a')).toBe(false);
    expect(await read(k)).toEqual({ ...k, status: 'failed' });
    expect((await read(counter))?.failed).toBe(1);
  });
});
