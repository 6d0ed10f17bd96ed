/**
 * The local SQS event source behaves like Lambda's, against the real SQS emulator: a partial batch
 * failure deletes only the records that succeeded, a failed record comes back after the visibility
 * timeout and reaches the dead-letter queue after maxReceiveCount receives, a thrown handler keeps
 * the whole batch, and FIFO deduplication means one delivery.
 */
import { randomUUID } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaHandler } from '../../../lib/local/lambda.js';
import { ensureFifoQueue } from '../../../lib/local/provision.js';
import { type QueuePoller, startQueuePoller } from '../../../lib/local/queue-poller.js';
import { fifoQueuePair } from '../../../lib/local/resources.js';
import { emulatorEndpoints, testSqsClient } from '../../support/emulators.js';
import { pollUntil } from '../../support/poll.js';

let sqs: SQSClient;
const pollers: QueuePoller[] = [];

beforeAll(() => {
  sqs = testSqsClient();
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});

afterAll(() => sqs.destroy());

/** A fresh FIFO queue pair for one test: 1 s visibility so retries come back quickly. */
async function freshQueue(maxReceiveCount = 5, visibilityTimeoutSeconds = 1) {
  const base = `poller-${randomUUID().slice(0, 8)}`;
  const queue = fifoQueuePair(`${base}.fifo`, `${base}-dlq.fifo`, emulatorEndpoints().sqs);
  await ensureFifoQueue(sqs, queue, { visibilityTimeoutSeconds, maxReceiveCount });
  return queue;
}

/** Records every delivery; `decide` says which records fail (by body). */
function recordingHandler(decide: (record: SQSRecord, attempt: number) => 'ok' | 'fail' | 'throw') {
  const deliveries: SQSRecord[] = [];
  const batches: SQSEvent[] = [];
  const handler: LambdaHandler = async (event) => {
    const sqsEvent = event as SQSEvent;
    batches.push(sqsEvent);
    const response: SQSBatchResponse = { batchItemFailures: [] };
    for (const record of sqsEvent.Records) {
      deliveries.push(record);
      const attempt = deliveries.filter((d) => d.body === record.body).length;
      const outcome = decide(record, attempt);
      if (outcome === 'throw') throw new Error(`crash on ${record.body}`);
      if (outcome === 'fail') response.batchItemFailures.push({ itemIdentifier: record.messageId });
    }
    return response;
  };
  return {
    handler,
    deliveries,
    batches,
    count: (body: string) => deliveries.filter((d) => d.body === body).length,
  };
}

function poll(
  queue: Awaited<ReturnType<typeof freshQueue>>,
  handler: LambdaHandler,
  batchSize = 10,
) {
  const poller = startQueuePoller({
    sqs,
    queueUrl: queue.url,
    queueArn: queue.arn,
    fn: { name: 'testConsumer', entry: '(inline)', timeoutSeconds: 5 },
    loader: { load: async () => handler },
    batchSize,
    concurrency: 1,
    log: () => {},
  });
  pollers.push(poller);
  return poller;
}

async function send(url: string, body: string, group: string, dedupId = body) {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: dedupId,
      MessageAttributes: { kind: { DataType: 'String', StringValue: 'test' } },
    }),
  );
}

async function depth(url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

describe('local queue poller', () => {
  it("a crashed batch's visibility timeout runs on the runtime's clock: an advance brings it back", async () => {
    // Prepare: a 10-minute visibility timeout, and a handler that crashes on the first delivery.
    const queue = await freshQueue(5, 600);
    const recorder = recordingHandler((_record, attempt) => (attempt === 1 ? 'throw' : 'ok'));
    await send(queue.url, 'crash-once', 'group-1');
    const poller = poll(queue, recorder.handler);
    await pollUntil(() => recorder.count('crash-once') === 1);
    await pollUntil(async () => (await depth(queue.url)).inFlight === 1);

    // Act: the clock moves past the visibility timeout; one too short would not do.
    await poller.clockAdvanced(300);
    const stillHidden = await depth(queue.url);
    await poller.clockAdvanced(300);

    // Assess
    expect(stillHidden).toEqual({ visible: 0, inFlight: 1 });
    await pollUntil(() => recorder.count('crash-once') === 2);
    await pollUntil(async () => {
      const d = await depth(queue.url);
      return d.visible === 0 && d.inFlight === 0;
    });
  });

  it('hands the handler a real SQS event', async () => {
    // Prepare
    const queue = await freshQueue();
    const recorder = recordingHandler(() => 'ok');
    await send(queue.url, 'hello', 'group-1', 'dedup-1');

    // Act
    poll(queue, recorder.handler);
    const [record] = await pollUntil(() => recorder.deliveries.length > 0 && recorder.deliveries);

    // Assess
    expect(record).toMatchObject({
      messageId: expect.any(String),
      receiptHandle: expect.any(String),
      body: 'hello',
      md5OfBody: '5d41402abc4b2a76b9719d911017c592',
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: 'us-east-1',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d+$/),
        MessageGroupId: 'group-1',
        MessageDeduplicationId: 'dedup-1',
      },
      messageAttributes: { kind: { dataType: 'String', stringValue: 'test' } },
    });
  });

  it('deletes only the records not reported in batchItemFailures; the failed one comes back', async () => {
    // Prepare: three groups so one receive returns all three.
    const queue = await freshQueue();
    const recorder = recordingHandler((record, attempt) =>
      record.body === 'b' && attempt === 1 ? 'fail' : 'ok',
    );
    await send(queue.url, 'a', 'g-a');
    await send(queue.url, 'b', 'g-b');
    await send(queue.url, 'c', 'g-c');

    // Act
    poll(queue, recorder.handler);
    await pollUntil(() => recorder.count('b') === 2, { description: 'b redelivered' });
    await pollUntil(async () => {
      const { visible, inFlight } = await depth(queue.url);
      return visible + inFlight === 0;
    });

    // Assess
    expect(recorder.count('a')).toBe(1);
    expect(recorder.count('c')).toBe(1);
    const retry = recorder.deliveries.filter((d) => d.body === 'b')[1];
    expect(retry?.attributes.ApproximateReceiveCount).toBe('2');
  });

  it('keeps the whole batch when the handler throws', async () => {
    // Prepare
    const queue = await freshQueue();
    const recorder = recordingHandler((record, attempt) =>
      record.body === 'y' && attempt === 1 ? 'throw' : 'ok',
    );
    await send(queue.url, 'x', 'g-x');
    await send(queue.url, 'y', 'g-y');

    // Act
    poll(queue, recorder.handler);
    await pollUntil(() => recorder.count('y') === 2 && recorder.count('x') >= 1);

    // Assess: x was in the thrown batch, so it was delivered again too.
    expect(recorder.batches[0]?.Records.map((r) => r.body).sort()).toEqual(['x', 'y']);
    await pollUntil(() => recorder.count('x') === 2, { description: 'x redelivered' });
  });

  it('moves a record that fails maxReceiveCount times to the dead-letter queue', async () => {
    // Prepare
    const queue = await freshQueue(2);
    const recorder = recordingHandler((record) => (record.body === 'poison' ? 'fail' : 'ok'));
    await send(queue.url, 'poison', 'g-p');

    // Act
    poll(queue, recorder.handler);
    const dead = await pollUntil(
      async () => {
        const { Messages } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queue.dlqUrl, WaitTimeSeconds: 1 }),
        );
        return Messages?.[0];
      },
      { timeoutMs: 15_000, description: 'the poison message in the DLQ' },
    );

    // Assess
    expect(dead.Body).toBe('poison');
    expect(recorder.count('poison')).toBe(2);
    expect(await depth(queue.url)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('delivers a FIFO deduplication id once', async () => {
    // Prepare
    const queue = await freshQueue();
    const recorder = recordingHandler(() => 'ok');
    await send(queue.url, 'first', 'g-1', 'same-id');
    await send(queue.url, 'second', 'g-1', 'same-id');
    await send(queue.url, 'sentinel', 'g-1', 'sentinel-id');

    // Act: the sentinel follows in the same group, so anything before it has been delivered.
    poll(queue, recorder.handler, 1);
    await pollUntil(() => recorder.count('sentinel') === 1);

    // Assess
    expect(recorder.deliveries.map((d) => d.body)).toEqual(['first', 'sentinel']);
  });

  it('stops promptly while long-polling an empty queue', async () => {
    const queue = await freshQueue();
    const poller = poll(queue, recordingHandler(() => 'ok').handler);
    pollers.splice(pollers.indexOf(poller), 1);

    const started = Date.now();
    await poller.stop();

    expect(Date.now() - started).toBeLessThan(1000);
  });
});
