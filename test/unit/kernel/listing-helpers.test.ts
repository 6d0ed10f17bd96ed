/** The kernel's one cursor codec, page-limit parser, concurrency helper and update builder. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { mapWithConcurrency } from '../../../functions/kernel/concurrency.js';
import { decodeCursor, encodeCursor, keyCursor } from '../../../functions/kernel/cursor.js';
import { InvalidRequestError } from '../../../functions/kernel/errors.js';
import { parsePageLimit } from '../../../functions/kernel/page-limit.js';
import { buildUpdate } from '../../../functions/kernel/update-expression.js';

describe('cursor codec', () => {
  const schema = keyCursor(['pk', 'sk', 'gsi1pk', 'gsi1sk'], { gsi1pk: 'TCONV#t1' });
  const position = { pk: 'CONV#1', sk: 'META', gsi1pk: 'TCONV#t1', gsi1sk: '2026-11-22' };
  const scope = { listing: 'conversations', tenantId: 't1', filter: { status: 'x' } };

  it('decodes what it encoded, under the same scope (key order aside)', () => {
    const cursor = encodeCursor(position, scope);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const reordered = { filter: { status: 'x' }, tenantId: 't1', listing: 'conversations' };
    expect(decodeCursor(cursor ?? undefined, schema, reordered)).toEqual(position);
    expect(encodeCursor(undefined, scope)).toBeNull();
    expect(decodeCursor(undefined, schema, scope)).toBeUndefined();
  });

  const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  it.each([
    ['another tenant', encodeCursor({ ...position, gsi1pk: 'TCONV#t2' }, scope)],
    ['an extra attribute', encodeCursor({ ...position, status: 'x' }, scope)],
    ['a number where a key string belongs', encodeCursor({ ...position, sk: 5 }, scope)],
    [
      'a key attribute over 1,024 UTF-8 bytes',
      encodeCursor({ ...position, sk: '€'.repeat(400) }, scope),
    ],
    [
      'another scope (another filter)',
      encodeCursor(position, { ...scope, filter: { status: 'y' } }),
    ],
    ['another scope (another listing)', encodeCursor(position, { ...scope, listing: 'messages' })],
    ['no scope tag (an unbound position)', forged(position)],
    ['not base64url JSON', '%%%'],
    ['base64url of non-JSON', Buffer.from('{oops').toString('base64url')],
    ['too long', 'A'.repeat(5000)],
  ])('refuses a cursor of %s with a 400 naming cursor', (_what, cursor) => {
    let thrown: unknown;
    try {
      decodeCursor(cursor ?? undefined, schema, scope);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidRequestError);
    expect((thrown as InvalidRequestError).details?.[0]?.field).toBe('cursor');
  });

  it('anything a client sends decodes to a position of this listing or is a 400', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue().map(forged)), (garbage) => {
        try {
          decodeCursor(garbage, schema, scope);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidRequestError);
        }
      }),
    );
  });

  it('takes any zod schema for non-key positions', () => {
    const shard = z.strictObject({ s: z.number().int().min(0).max(15) });
    expect(decodeCursor(encodeCursor({ s: 3 }, 'shards') ?? undefined, shard, 'shards')).toEqual({
      s: 3,
    });
    expect(() =>
      decodeCursor(encodeCursor({ s: 16 }, 'shards') ?? undefined, shard, 'shards'),
    ).toThrow(InvalidRequestError);
  });
});

describe('parsePageLimit', () => {
  const options = { fallback: 50, max: 200 };
  it('uses the fallback when absent and accepts 1..max', () => {
    expect(parsePageLimit(undefined, options)).toBe(50);
    expect(parsePageLimit('1', options)).toBe(1);
    expect(parsePageLimit('200', options)).toBe(200);
  });
  it.each(['0', '201', '-1', '1.5', 'abc', '1e2', ' 5', '99999999999'])(
    'refuses %j with a 400',
    (raw) => {
      expect(() => parsePageLimit(raw, options)).toThrow(InvalidRequestError);
    },
  );
});

describe('mapWithConcurrency', () => {
  it('keeps input order and never has more than `limit` in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapWithConcurrency([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return n * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(peak).toBe(3);
  });

  it('starts nothing after a failure, lets running work settle, then throws the first error', async () => {
    const started: number[] = [];
    let settled = 0;
    const run = mapWithConcurrency([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await new Promise((resolve) => setImmediate(resolve));
      settled += 1;
      if (n === 1) throw new Error('boom');
      return n;
    });
    await expect(run).rejects.toThrow('boom');
    expect(started).toEqual([0, 1, 2, 3].slice(0, started.length));
    expect(started.length).toBeLessThan(6);
    expect(settled).toBe(started.length);
  });
});

describe('buildUpdate', () => {
  it('builds SET, if_not_exists, ADD and REMOVE with placeholders and merges conditions', () => {
    const built = buildUpdate(
      { set: { status: 'b' }, setIfAbsent: { at: 't' }, add: { n: 1 }, remove: ['lease'] },
      [
        { expression: '#st = :a', names: { '#st': 'status' }, values: { ':a': 'a' } },
        { expression: 'attribute_exists(pk)' },
      ],
    );
    expect(built.update).toBe(
      'SET #u0 = :u1, #u2 = if_not_exists(#u2, :u3) ADD #u4 :u5 REMOVE #u6',
    );
    expect(built.condition).toBe('(#st = :a) AND (attribute_exists(pk))');
    expect(built.names).toEqual({
      '#u0': 'status',
      '#u2': 'at',
      '#u4': 'n',
      '#u6': 'lease',
      '#st': 'status',
    });
    expect(built.values).toEqual({ ':u1': 'b', ':u3': 't', ':u5': 1, ':a': 'a' });
  });

  it('copies one attribute into another with no value placeholder', () => {
    const built = buildUpdate({ set: { sweepAt: 't' }, copy: { sweepPk: 'pendingPk' } });
    expect(built.update).toBe('SET #u0 = :u1, #u2 = #u3');
    expect(built.names).toEqual({ '#u0': 'sweepAt', '#u2': 'sweepPk', '#u3': 'pendingPk' });
    expect(built.values).toEqual({ ':u1': 't' });
  });

  it('writes inside map entries by path, sharing one placeholder per attribute name', () => {
    const built = buildUpdate({
      set: { sweepAt: 't' },
      within: [
        {
          path: ['jobs', 'ai_triage'],
          set: { status: 'running' },
          increment: { attempts: 1 },
          remove: ['error'],
        },
        { path: ['jobs', 'lead_match'], remove: ['error'] },
      ],
    });
    expect(built.update).toBe(
      'SET #u0 = :u1, #u2.#u3.#u4 = :u5, #u2.#u3.#u6 = #u2.#u3.#u6 + :u7 REMOVE #u2.#u3.#u8, #u2.#u9.#u8',
    );
    expect(built.names).toEqual({
      '#u0': 'sweepAt',
      '#u2': 'jobs',
      '#u3': 'ai_triage',
      '#u4': 'status',
      '#u6': 'attempts',
      '#u8': 'error',
      '#u9': 'lead_match',
    });
    expect(() => buildUpdate({ within: [{ path: [], set: { a: 1 } }] })).toThrow(/path/);
  });

  it('parenthesises each of several conditions once: DynamoDB refuses redundant parentheses', () => {
    const built = buildUpdate({ set: { a: 1 } }, [
      {
        expression: '(#x = :x OR #y = :y)',
        names: { '#x': 'x', '#y': 'y' },
        values: { ':x': 1, ':y': 2 },
      },
      { expression: '(#x = :x) OR (#y = :y)' },
      { expression: 'attribute_exists(pk)' },
    ]);
    expect(built.condition).toBe(
      '(#x = :x OR #y = :y) AND ((#x = :x) OR (#y = :y)) AND (attribute_exists(pk))',
    );
  });

  it('refuses a condition that uses its reserved placeholders, and an empty update', () => {
    expect(() =>
      buildUpdate({ set: { a: 1 } }, [{ expression: '#u0 = :x', names: { '#u0': 'b' } }]),
    ).toThrow(/reserved/);
    expect(() => buildUpdate({})).toThrow(/at least one/);
  });
});
