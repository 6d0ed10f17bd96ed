/** Operator Idempotency-Key semantics on the real DynamoDB Local (Powertools Idempotency). */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../../functions/kernel/errors.js';
import { errorResponse, type HttpRequest } from '../../../functions/kernel/http.js';
import { withIdempotencyKey } from '../../../functions/kernel/idempotency-key.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';

/** Retries until the call stops answering request_in_progress (the record's expiry is in ms). */
async function pollUntilSettled<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt > 50 || errorResponse(error).status !== 409) throw error;
      await new Promise((r) => setImmediate(r));
    }
  }
}

function request(key: string | undefined, body: unknown): HttpRequest {
  return {
    method: 'POST',
    routeKey: 'POST /v1/things',
    path: '/v1/things',
    pathParameters: {},
    query: {},
    headers: {
      'content-type': 'application/json',
      ...(key ? { 'idempotency-key': key } : {}),
    },
    rawBody: JSON.stringify(body),
    sourceIp: '127.0.0.1',
    requestId: randomUUID(),
    lambdaContext: fakeLambdaContext({ remainingMs: 10_000 }),
  };
}

describe('withIdempotencyKey', () => {
  it('replays the first response for the same key and body, whatever the key order', async () => {
    let runs = 0;
    const key = randomUUID();
    const create = () =>
      withIdempotencyKey(request(key, { a: 1, b: 2 }), 't1', async () => {
        runs++;
        return { status: 201, body: { id: `thing-${runs}` } };
      });
    const first = await create();
    const again = await withIdempotencyKey(request(key, { b: 2, a: 1 }), 't1', async () => {
      runs++;
      return { status: 201, body: { id: 'second' } };
    });
    expect(first).toEqual({ status: 201, body: { id: 'thing-1' } });
    expect(again).toEqual(first);
    expect(runs).toBe(1);
  });

  it('409 idempotency_key_mismatch for the same key with another body', async () => {
    const key = randomUUID();
    await withIdempotencyKey(request(key, { a: 1 }), 't1', async () => ({
      status: 201,
      body: {},
    }));
    const error = await withIdempotencyKey(request(key, { a: 2 }), 't1', async () => ({
      status: 201,
      body: {},
    })).catch((e) => e);
    expect(errorResponse(error)).toMatchObject({
      status: 409,
      body: { error: { code: 'idempotency_key_mismatch' } },
    });
  });

  it('409 request_in_progress while the first is still running', async () => {
    const key = randomUUID();
    let release: () => void = () => {};
    let started: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const running = new Promise<void>((r) => {
      started = r;
    });
    const first = withIdempotencyKey(request(key, { a: 1 }), 't1', async () => {
      started();
      await gate;
      return { status: 201, body: { id: 'x' } };
    });
    await running;
    const second = await withIdempotencyKey(request(key, { a: 1 }), 't1', async () => ({
      status: 201,
      body: {},
    })).catch((e) => e);
    release();
    expect(errorResponse(second)).toMatchObject({
      status: 409,
      body: { error: { code: 'request_in_progress' } },
    });
    expect(await first).toEqual({ status: 201, body: { id: 'x' } });
  });

  it('scopes keys per tenant: the same key of two tenants runs twice', async () => {
    const key = randomUUID();
    const a = await withIdempotencyKey(request(key, {}), 'tA', async () => ({
      status: 201,
      body: { t: 'A' },
    }));
    const b = await withIdempotencyKey(request(key, {}), 'tB', async () => ({
      status: 201,
      body: { t: 'B' },
    }));
    expect([a.body, b.body]).toEqual([{ t: 'A' }, { t: 'B' }]);
  });

  it('lets a retry through once a crashed first attempt has run out of time', async () => {
    const key = randomUUID();
    const crashed: HttpRequest = {
      ...request(key, { a: 1 }),
      lambdaContext: {
        getRemainingTimeInMillis: () => 1,
      } as unknown as Context,
    };
    // The first attempt "crashes": it starts and never finishes; its in-progress record expires with it.
    let started: () => void = () => {};
    const running = new Promise<void>((r) => {
      started = r;
    });
    void withIdempotencyKey(crashed, 't1', () => {
      started();
      return new Promise<never>(() => {});
    });
    await running;
    const retry = await pollUntilSettled(() =>
      withIdempotencyKey(request(key, { a: 1 }), 't1', async () => ({
        status: 201,
        body: { id: 'retried' },
      })),
    );
    expect(retry).toEqual({ status: 201, body: { id: 'retried' } });
  });

  it('rejects a malformed key with 400 and runs nothing', async () => {
    let ran = false;
    const error = await withIdempotencyKey(request('bad key with spaces', {}), 't1', async () => {
      ran = true;
      return { status: 201 };
    }).catch((e) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(ran).toBe(false);
  });
});
