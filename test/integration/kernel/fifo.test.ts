/** FIFO enqueue against the real SQS emulator: deterministic deduplication ids drop retries. */
import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { sqs } from '../../../functions/kernel/clients.js';
import { enqueueFifo } from '../../../functions/kernel/fifo.js';

async function scratchQueue(): Promise<string> {
  const out = await sqs.send(
    new CreateQueueCommand({
      QueueName: `kernel-test-${randomUUID().slice(0, 8)}.fifo`,
      Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false' },
    }),
  );
  return String(out.QueueUrl);
}

async function drain(queueUrl: string): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 60,
      }),
    );
    if (!out.Messages?.length) return bodies;
    for (const m of out.Messages) {
      bodies.push(JSON.parse(String(m.Body)));
      // FIFO groups hand out one message at a time: delete to get the next.
      await sqs.send(
        new DeleteMessageCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: m.ReceiptHandle,
        }),
      );
    }
  }
}

describe('enqueueFifo', () => {
  it('sends 25 messages in batches, and a full retry of the same enqueue adds nothing', async () => {
    // Prepare
    const queueUrl = await scratchQueue();
    const messages = Array.from({ length: 25 }, (_, i) => ({
      body: { n: i },
      groupId: `g${i % 4}`,
      identity: `work:${i}`,
    }));
    // Act
    await enqueueFifo(sqs, queueUrl, messages);
    await enqueueFifo(sqs, queueUrl, messages);
    // Assess
    const received = await drain(queueUrl);
    expect(received).toHaveLength(25);
    expect(new Set(received.map((b) => (b as { n: number }).n)).size).toBe(25);
  });
});
