/**
 * A queue consumer with no time left for a record hands it back at once, against the SQS emulator:
 * the real Lambda handler shape (`queueConsumer`, with `ONCEFLOW_RECORD_SECONDS` as the stack sets
 * it) receives a batch of one message group, works what its remaining time allows, and the records
 * it did not start are visible again immediately (not after the queue's 180 s visibility timeout)
 * for the next invocation; the record it worked is not handed back.
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { sqs } from '../../../functions/kernel/clients.js';
import { RECORD_SECONDS_ENV } from '../../../functions/kernel/config.js';
import { queueConsumer } from '../../../functions/kernel/queue-consumer.js';
import { ensureFifoQueue } from '../../../lib/local/provision.js';
import { toSqsRecord } from '../../../lib/local/queue-poller.js';
import { fifoQueuePair } from '../../../lib/local/resources.js';
import { emulatorEndpoints } from '../../support/emulators.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';

afterEach(() => {
  delete process.env[RECORD_SECONDS_ENV];
});

async function receive(url: string): Promise<Message[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

describe('records a consumer has no time for', () => {
  it('are visible again at once; the record worked is not', async () => {
    // Prepare: a queue that hides a received message for 180 s, three messages.
    const base = `deadline-${randomUUID().slice(0, 8)}`;
    const queue = fifoQueuePair(`${base}.fifo`, `${base}-dlq.fifo`, emulatorEndpoints().sqs);
    await ensureFifoQueue(sqs, queue, { visibilityTimeoutSeconds: 180, maxReceiveCount: 5 });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: [1, 2, 3].map((n) => ({
          Id: String(n),
          MessageBody: JSON.stringify({ n }),
          // The emulator hands out one message of a group at a time (real SQS may give more):
          // three groups, which this consumer still works one after another.
          MessageGroupId: `g${n}`,
          MessageDeduplicationId: `${base}-${n}`,
        })),
      }),
    );
    const received = await receive(queue.url);
    expect(received).toHaveLength(3);
    // An invocation with 30 s left, records needing 25 s: the first record takes 10 s.
    process.env[RECORD_SECONDS_ENV] = '25';
    let remaining = 30_000;
    const worked: number[] = [];
    const handler = queueConsumer({
      queue: 'jobs',
      schema: z.object({ n: z.number() }),
      handle: async ({ body }) => {
        worked.push(body.n);
        remaining -= 10_000;
      },
    });
    const context = fakeLambdaContext({ functionName: 'deadline', remainingMs: () => remaining });

    // Act
    const event: SQSEvent = { Records: received.map((m) => toSqsRecord(m, queue.arn)) };
    const response = await handler(event, context);
    // What Lambda does with the answer: delete what succeeded.
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = received.filter((m) => !failed.has(m.MessageId ?? ''));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );

    // Assess: one record worked; the other two are there again now.
    expect(worked).toEqual([1]);
    const again = await receive(queue.url);
    expect(again.map((m) => JSON.parse(String(m.Body)).n).sort()).toEqual([2, 3]);
  });
});
