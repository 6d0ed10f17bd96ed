/**
 * The kernel's one conditional update, `writeAtomically` reporting every failed write, and the SDK
 * paginator wrapper, against the real DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { conditionCheckWrite, writeAtomically } from '../../../functions/kernel/atomic.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { ManualClock } from '../../../functions/kernel/clock.js';
import {
  conditionalUpdate,
  conditionalUpdateWith,
  conditionalUpdateWrite,
} from '../../../functions/kernel/conditional-update.js';
import { tableName } from '../../../functions/kernel/config.js';
import { claimLease } from '../../../functions/kernel/lease.js';
import { queryAll, queryCount, queryPageFrom } from '../../../functions/kernel/paginate.js';
import { putOnceWrite } from '../../../functions/kernel/put-once.js';
import { raceTrials } from '../../support/race.js';

const table = () => tableName('inbound');
const key = () => ({ pk: `TEST#${randomUUID()}`, sk: 'ITEM' });

async function read(k: { pk: string; sk: string }) {
  return (await ddb.send(new GetCommand({ TableName: table(), Key: k, ConsistentRead: true })))
    .Item;
}

const statusIs = (status: string) => ({
  expression: '#st = :st',
  names: { '#st': 'status' },
  values: { ':st': status },
});

describe('conditionalUpdate', () => {
  it('applies set, add and remove in one write and answers the item as it now is', async () => {
    const k = key();
    await ddb.send(
      new PutCommand({
        TableName: table(),
        Item: { ...k, status: 'a', count: 2, note: 'x', by: 'first' },
      }),
    );
    const result = await conditionalUpdate(ddb, {
      table: table(),
      key: k,
      set: { status: 'b' },
      setIfAbsent: { firstSeen: 'now', by: 'not this' },
      add: { count: 3 },
      remove: ['note'],
      conditions: [statusIs('a')],
    });
    expect(result).toEqual({
      applied: true,
      item: { ...k, status: 'b', count: 5, firstSeen: 'now', by: 'first' },
    });
    expect(await read(k)).toEqual({ ...k, status: 'b', count: 5, firstSeen: 'now', by: 'first' });
  });

  it('a failed condition writes nothing and answers the item as it stood', async () => {
    const k = key();
    await ddb.send(new PutCommand({ TableName: table(), Item: { ...k, status: 'done' } }));
    const result = await conditionalUpdate(ddb, {
      table: table(),
      key: k,
      set: { status: 'b' },
      conditions: [statusIs('a')],
    });
    expect(result).toEqual({ applied: false, current: { ...k, status: 'done' } });
    expect(await read(k)).toEqual({ ...k, status: 'done' });
  });

  it('20 concurrent moves from one state: exactly one applies, in every trial', async () => {
    await raceTrials({
      trials: 5,
      setup: async () => {
        const k = key();
        await ddb.send(new PutCommand({ TableName: table(), Item: { ...k, status: 'a' } }));
        return k;
      },
      contenders: (k) =>
        Array.from(
          { length: 20 },
          (_, worker) => () =>
            conditionalUpdate(ddb, {
              table: table(),
              key: k,
              set: { status: 'b', worker },
              add: { moves: 1 },
              conditions: [statusIs('a')],
            }),
        ),
      check: async (k, outcomes) => {
        const applied = outcomes.filter(
          (o) => o.status === 'fulfilled' && (o.value as { applied: boolean }).applied,
        );
        expect(applied).toHaveLength(1);
        expect((await read(k))?.moves).toBe(1);
      },
    });
  });

  it('claimLease is built on it: the attempt counter moves only with a claim', async () => {
    const k = key();
    const clock = new ManualClock();
    await ddb.send(new PutCommand({ TableName: table(), Item: { ...k, status: 'a' } }));
    const lease = { table: table(), key: k, leaseSeconds: 60, clock, increment: 'attempts' };
    expect((await claimLease(ddb, { ...lease, owner: 'w1' })).claimed).toBe(true);
    expect((await claimLease(ddb, { ...lease, owner: 'w2' })).claimed).toBe(false);
    clock.advance(61_000);
    const second = await claimLease(ddb, { ...lease, owner: 'w2' });
    expect(second.claimed && second.item.attempts).toBe(2);
  });
});

describe('conditionalUpdateWith', () => {
  it('alone, it is the plain conditional update: the item back, or the label of its failed guard', async () => {
    const k = key();
    await ddb.send(new PutCommand({ TableName: table(), Item: { ...k, status: 'a' } }));
    const move = { label: 'state', table: table(), key: k, set: { status: 'b' } };
    expect(await conditionalUpdateWith(ddb, { ...move, conditions: [statusIs('a')] })).toEqual({
      applied: true,
      item: { ...k, status: 'b' },
    });
    expect(await conditionalUpdateWith(ddb, { ...move, conditions: [statusIs('a')] })).toEqual({
      applied: false,
      failed: 'state',
      current: { ...k, status: 'b' },
    });
  });

  it('with companions, all move together or nothing does, and the failed one is named', async () => {
    // Prepare: an item, its counter, and a uniqueness key already taken.
    const [k, counter, unique] = [key(), key(), key()];
    await ddb.send(new PutCommand({ TableName: table(), Item: { ...k, status: 'a' } }));
    await ddb.send(new PutCommand({ TableName: table(), Item: { ...unique, owner: 'other' } }));
    const move = {
      label: 'state',
      table: table(),
      key: k,
      set: { status: 'b' },
      conditions: [statusIs('a')],
    };
    const count = conditionalUpdateWrite('counter', {
      table: table(),
      key: counter,
      add: { n: 1 },
    });
    // Act
    const refused = await conditionalUpdateWith(ddb, {
      ...move,
      with: [count, putOnceWrite('unique', { table: table(), item: { ...unique, owner: 'me' } })],
    });
    const moved = await conditionalUpdateWith(ddb, {
      ...move,
      with: [
        count,
        conditionCheckWrite('owner', {
          table: table(),
          key: unique,
          conditions: [
            { expression: '#o = :o', names: { '#o': 'owner' }, values: { ':o': 'other' } },
          ],
        }),
      ],
    });
    // Assess
    expect(refused).toEqual({
      applied: false,
      failed: 'unique',
      current: { ...unique, owner: 'other' },
    });
    expect(moved).toEqual({ applied: true });
    expect(await read(k)).toEqual({ ...k, status: 'b' });
    expect((await read(counter))?.n).toBe(1);
    expect(await read(unique)).toEqual({ ...unique, owner: 'other' });
  });
});

describe('writeAtomically', () => {
  it('reports every write whose condition failed, not only the first', async () => {
    const [a, b, c] = [key(), key(), key()];
    await ddb.send(new PutCommand({ TableName: table(), Item: { ...a, status: 'x' } }));
    await ddb.send(new PutCommand({ TableName: table(), Item: { ...c, status: 'y' } }));
    const result = await writeAtomically(ddb, [
      { label: 'a', put: { table: table(), item: a, condition: 'attribute_not_exists(pk)' } },
      { label: 'b', put: { table: table(), item: b, condition: 'attribute_not_exists(pk)' } },
      conditionalUpdateWrite('c', {
        table: table(),
        key: c,
        set: { status: 'z' },
        conditions: [statusIs('x')],
      }),
    ]);
    expect(result).toEqual({
      ok: false,
      failed: 'a',
      current: { ...a, status: 'x' },
      failures: [
        { label: 'a', index: 0, current: { ...a, status: 'x' } },
        { label: 'c', index: 2, current: { ...c, status: 'y' } },
      ],
    });
    expect(await read(b)).toBeUndefined();
  });
});

describe('queryAll', () => {
  it('walks every page through the SDK paginator, and stops at maxItems', async () => {
    const pk = `TEST#${randomUUID()}`;
    for (let i = 0; i < 7; i++) {
      await ddb.send(new PutCommand({ TableName: table(), Item: { pk, sk: `I#${i}`, n: i } }));
    }
    const input = {
      TableName: table(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
    };
    const all = await queryAll(ddb, input, { pageSize: 2 });
    expect(all.map((item) => item.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const some = await queryAll(ddb, input, { pageSize: 2, maxItems: 3 });
    expect(some.map((item) => item.n)).toEqual([0, 1, 2]);
  });

  it('queryCount counts what the filter keeps over every page; queryPageFrom continues from a kept key', async () => {
    const pk = `TEST#${randomUUID()}`;
    for (let i = 0; i < 7; i++) {
      await ddb.send(new PutCommand({ TableName: table(), Item: { pk, sk: `I#${i}`, n: i } }));
    }
    const input = {
      TableName: table(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
    };
    const evens = { ...input, FilterExpression: 'n IN (:a, :b, :c, :d)', Limit: 2 };
    expect(
      await queryCount(ddb, {
        ...evens,
        ExpressionAttributeValues: { ':pk': pk, ':a': 0, ':b': 2, ':c': 4, ':d': 6 },
      }),
    ).toBe(4);
    const first = await queryPageFrom(ddb, { ...input, Limit: 3 }, undefined);
    expect(first.items.map((item) => item.n)).toEqual([0, 1, 2]);
    expect(first.lastKey).toEqual({ pk, sk: 'I#2' });
    const next = await queryPageFrom(ddb, { ...input, Limit: 10 }, first.lastKey);
    expect(next.items.map((item) => item.n)).toEqual([3, 4, 5, 6]);
    expect(next.lastKey).toBeUndefined();
  });
});
