/**
 * FIFO enqueue with deterministic identities: the deduplication id comes from the business identity
 * of the work (message+job type, campaign+contact), never from time or randomness, so a retry of the
 * same enqueue inside SQS's five-minute window is dropped by SQS itself. Sends are batched (10 per
 * request) and entries SQS refuses are retried before giving up.
 */
import { createHash } from 'node:crypto';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

export interface FifoMessage {
  /** JSON-serialisable body. */
  readonly body: unknown;
  /** Ordering scope: messages in one group are delivered one at a time, in order. */
  readonly groupId: string;
  /** The business identity of this piece of work. */
  readonly identity: string;
}

const SQS_BATCH = 10;
const MAX_ATTEMPTS = 4;

/** SQS allows 128 characters from a limited set: a sha256 of the identity always fits. */
export function deduplicationId(identity: string): string {
  return createHash('sha256').update(identity).digest('hex');
}

/** Group ids allow the same characters; long or unusual ones are hashed too. */
export function groupId(raw: string): string {
  return /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/.test(raw)
    ? raw
    : deduplicationId(raw);
}

export class EnqueueError extends Error {
  override name = 'EnqueueError';
}

export async function enqueueFifo(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly FifoMessage[],
): Promise<void> {
  for (let start = 0; start < messages.length; start += SQS_BATCH) {
    let pending = messages.slice(start, start + SQS_BATCH).map((m, i) => ({
      Id: String(i),
      MessageBody: JSON.stringify(m.body),
      MessageGroupId: groupId(m.groupId),
      MessageDeduplicationId: deduplicationId(m.identity),
    }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      const out = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }),
      );
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      const senderFault = (out.Failed ?? []).find((f) => f.SenderFault);
      if (senderFault) {
        throw new EnqueueError(`SQS refused a message: ${senderFault.Code} ${senderFault.Message}`);
      }
      pending = pending.filter((entry) => failed.has(entry.Id));
      if (pending.length > 0 && attempt >= MAX_ATTEMPTS) {
        throw new EnqueueError(`${pending.length} message(s) not accepted by SQS after retries`);
      }
    }
  }
}
