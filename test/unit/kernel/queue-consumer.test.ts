import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  armFailpoints,
  clearFailpoints,
  defineFailpoint,
  failpoint,
} from '../../../functions/kernel/failpoints.js';
import { consumeGroupsInParallel } from '../../../functions/kernel/fifo-group-consumer.js';
import { consumeBatch } from '../../../functions/kernel/queue-consumer.js';
import { currentTelemetry } from '../../../functions/kernel/telemetry.js';

function record(id: string, group: string, body: unknown): SQSRecord {
  return {
    messageId: id,
    receiptHandle: `rh-${id}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'x',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: group,
      MessageDeduplicationId: id,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:onceflow-jobs.fifo',
    awsRegion: 'us-east-1',
  };
}

const schema = z.object({ n: z.number() });
const CRASH = defineFailpoint('test.queue-consumer.crash', 'inside a test record handler');

// Both consumers promise the same record semantics; one runs a batch's groups in parallel.
describe.each([
  ['Powertools FIFO processor', consumeBatch],
  ['groups in parallel', consumeGroupsInParallel],
] as const)('queue consumer (%s)', (_name, consumeWith) => {
  afterEach(() => {
    clearFailpoints();
    delete process.env.ONCEFLOW_FAILPOINTS;
  });

  it('reports only the failed record and the rest of its group, and runs inside queue:<name>', async () => {
    const seen: Array<[number, string]> = [];
    const consume = consumeWith({
      queue: 'jobs',
      schema,
      handle: async ({ body }) => {
        seen.push([body.n, currentTelemetry().source]);
        if (body.n === 1) throw new Error('boom');
      },
    });
    const event: SQSEvent = {
      Records: [
        record('a', 'g1', { n: 1 }),
        record('b', 'g1', { n: 2 }),
        record('c', 'g2', { n: 3 }),
      ],
    };
    const response = await consume(event);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['a', 'b']);
    expect(seen.sort()).toEqual([
      [1, 'queue:jobs'],
      [3, 'queue:jobs'],
    ]);
  });

  it('fails poison messages (so SQS dead-letters them) and never hands them to the handler', async () => {
    const handled: number[] = [];
    const consume = consumeWith({
      queue: 'jobs',
      schema,
      handle: async ({ body }) => {
        handled.push(body.n);
      },
    });
    const response = await consume({
      Records: [
        record('p', 'g1', 'not json'),
        record('q', 'g2', { n: 'x' }),
        record('ok', 'g3', { n: 3 }),
      ],
    });
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['p', 'q']);
    expect(handled).toEqual([3]);
  });

  it('fails a record that is not an SQS record (Parser SqsRecordSchema)', async () => {
    const consume = consumeWith({ queue: 'jobs', schema, handle: async () => {} });
    const broken = {
      ...record('r', 'g', { n: 1 }),
      eventSource: 'aws:kinesis',
    } as unknown as SQSRecord;
    const response = await consume({ Records: [broken] });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'r' }]);
  });

  it('starts no record with less than one record-time left: the rest go back untouched, in order', async () => {
    // Prepare: an invocation with 10 s left, records needing 4 s each, one group of three and one
    // of one; each record handled takes 4 s of the invocation's time.
    let remainingMs = 10_000;
    const handled: number[] = [];
    const consume = consumeWith({
      queue: 'sends',
      schema,
      handle: async ({ body }) => {
        handled.push(body.n);
        remainingMs -= 4_000;
      },
    });
    // Act
    const handedBack: SQSRecord[] = [];
    const response = await consume(
      {
        Records: [
          record('a', 'g1', { n: 1 }),
          record('b', 'g1', { n: 2 }),
          record('c', 'g1', { n: 3 }),
          record('d', 'g2', { n: 4 }),
        ],
      },
      { remainingMs: () => remainingMs, recordMs: 4_000, handedBack },
    );
    // Assess: nothing started with less than 4 s left; what was not started is reported failed
    // and handed back (to be made visible at once), and only that.
    const failed = response.batchItemFailures.map((f) => f.itemIdentifier);
    expect(handled.length + failed.length).toBe(4);
    expect(handled.length).toBe(2);
    expect(remainingMs).toBeGreaterThanOrEqual(10_000 - 4_000 * 2);
    expect(handled).not.toContain(3);
    expect(failed).toContain('c');
    expect(handedBack.map((r) => r.messageId).sort()).toEqual([...failed].sort());
    // Within a group nothing is overtaken: a returned record's successors are returned too.
    if (failed.includes('b')) expect(failed).toContain('c');
  });

  it('hands back only records it had no time for, not those failed behind a failed record', async () => {
    const handedBack: SQSRecord[] = [];
    const consume = consumeWith({
      queue: 'jobs',
      schema,
      handle: async ({ body }) => {
        if (body.n === 1) throw new Error('boom');
      },
    });
    const response = await consume(
      { Records: [record('a', 'g1', { n: 1 }), record('b', 'g1', { n: 2 })] },
      { remainingMs: () => 60_000, recordMs: 4_000, handedBack },
    );
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['a', 'b']);
    expect(handedBack).toEqual([]);
  });

  it('takes every record without a deadline (no recordSeconds set)', async () => {
    const handled: number[] = [];
    const consume = consumeWith({
      queue: 'jobs',
      schema,
      handle: async ({ body }) => {
        handled.push(body.n);
      },
    });
    const response = await consume({
      Records: [record('a', 'g1', { n: 1 }), record('b', 'g1', { n: 2 })],
    });
    expect(response.batchItemFailures).toEqual([]);
    expect(handled).toEqual([1, 2]);
  });

  it('lets a failpoint crash abort the whole invocation', async () => {
    process.env.ONCEFLOW_FAILPOINTS = 'on';
    armFailpoints({ [CRASH]: { probability: 1, times: 1 } });
    const handled: number[] = [];
    const consume = consumeWith({
      queue: 'jobs',
      schema,
      handle: async ({ body }) => {
        failpoint(CRASH);
        handled.push(body.n);
      },
    });
    await expect(
      consume({ Records: [record('a', 'g1', { n: 1 }), record('b', 'g2', { n: 2 })] }),
    ).rejects.toThrow(/failpoint/);
    // Sequentially nothing after the crash runs; in parallel another group may already be in
    // flight. Either way the invocation fails whole, so SQS redelivers every record.
    if (consumeWith === consumeBatch) expect(handled).toEqual([]);
  });
});

/** A promise and the call that resolves it: one record waiting for another to reach a point. */
function signal(): [Promise<void>, () => void] {
  let resolve: () => void = () => {};
  const reached = new Promise<void>((r) => {
    resolve = r;
  });
  return [reached, resolve];
}

describe('consumeGroupsInParallel', () => {
  it('has records of different groups in flight at once, and one group strictly in order', async () => {
    // Prepare: each record waits until two records are in flight, which only parallel groups reach.
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    const [bothStarted, release] = signal();
    const consume = consumeGroupsInParallel({
      queue: 'sends',
      schema,
      handle: async ({ body }) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        if (inFlight === 2) release();
        if (body.n < 3) await bothStarted;
        order.push(body.n);
        inFlight--;
      },
    });
    // Act
    const response = await consume({
      Records: [
        record('a', 'g1', { n: 1 }),
        record('b', 'g1', { n: 3 }),
        record('c', 'g2', { n: 2 }),
      ],
    });
    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(peak).toBe(2);
    expect(order.indexOf(1)).toBeLessThan(order.indexOf(3));
  });

  it('tells each record how many of its batch run beside it and have not passed', async () => {
    // Prepare: g1 holds two records in order, g2 one, g3 two. g3's first fails at once (its second
    // fails with it, unstarted); g2's passes at once and looks again once g1's second has started.
    const seen: Record<string, number[]> = {};
    const [bHasStarted, bStarted] = signal();
    const [dHasLooked, dLooked] = signal();
    const consume = consumeGroupsInParallel({
      queue: 'sends',
      schema,
      handle: async ({ messageId, batch }) => {
        const at: number[] = [];
        seen[messageId] = at;
        at.push(batch?.ahead() ?? -1);
        if (messageId === 'e') throw new Error('refused');
        if (messageId === 'a') {
          await new Promise((r) => setTimeout(r, 5));
          at.push(batch?.ahead() ?? -1);
        }
        if (messageId === 'b') {
          bStarted();
          await dHasLooked;
        }
        if (messageId === 'd') {
          batch?.pass();
          batch?.pass();
          await bHasStarted;
          at.push(batch?.ahead() ?? -1);
          dLooked();
        }
      },
    });
    // Act
    const response = await consume({
      Records: [
        record('a', 'g1', { n: 1 }),
        record('b', 'g1', { n: 2 }),
        record('d', 'g2', { n: 3 }),
        record('e', 'g3', { n: 4 }),
        record('f', 'g3', { n: 5 }),
      ],
    });
    // Assess: the heads see each other (e after d passed), not the records queued behind them; e has
    // failed and d passed (once, however often it says so) when a looks again; b counts once started.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'e' }, { itemIdentifier: 'f' }]);
    expect(seen.a).toEqual([2, 0]);
    expect(seen.e).toEqual([1]);
    expect(seen.d).toEqual([2, 1]);
    expect(seen.b).toEqual([0]);
    expect(seen.f).toBeUndefined();
  });

  it("counts only the records of the groups a record names (its campaign's), not the others'", async () => {
    // Prepare: two campaigns' groups in one batch (cmpA.1, cmpA.2, cmpB.1), each record looking once
    // every head has started.
    const seen: Record<string, { all: number; mine: number }> = {};
    let started = 0;
    const [everyHead, allStarted] = signal();
    const consume = consumeGroupsInParallel({
      queue: 'sends',
      schema,
      handle: async ({ messageId, batch }) => {
        if (++started === 3) allStarted();
        await everyHead;
        const campaign = messageId.startsWith('a') ? 'cmpA' : 'cmpB';
        seen[messageId] = {
          all: batch?.ahead() ?? -1,
          mine: batch?.ahead((group) => group.startsWith(`${campaign}.`)) ?? -1,
        };
      },
    });
    // Act
    await consume({
      Records: [
        record('a1', 'cmpA.1', { n: 1 }),
        record('a2', 'cmpA.2', { n: 2 }),
        record('b1', 'cmpB.1', { n: 3 }),
      ],
    });
    // Assess
    expect(seen.a1).toEqual({ all: 2, mine: 1 });
    expect(seen.a2).toEqual({ all: 2, mine: 1 });
    expect(seen.b1).toEqual({ all: 2, mine: 0 });
  });
});
