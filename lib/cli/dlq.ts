/**
 * `onceflow dlq list|replay QUEUE`: what sits in a queue's dead-letter queue, and moving it back.
 *
 * Listing receives with a zero visibility timeout (messages stay where they are) until no new
 * message id appears. A FIFO queue hands out a message group's messages in order, so where the
 * queue returns one message per group and receive (the SQS emulator does), the listing shows each
 * group's head; replay moves every message. Replay sends each message to its queue with its message group and a
 * deduplication id derived from the dead-letter message id (a replay repeated within SQS's
 * five-minute window is deduplicated), then deletes it from the dead-letter queue. Replaying is
 * safe because every consumer re-reads the item's state from DynamoDB before acting: a message
 * whose work is already done changes nothing.
 */
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sha256Hex } from '../../functions/kernel/secrets.js';

export interface DeadLetter {
  readonly messageId: string;
  readonly groupId?: string;
  readonly receiveCount: number;
  readonly sentAt?: string;
  readonly body: string;
}

function toDeadLetter(m: Message): DeadLetter {
  const sent = Number(m.Attributes?.SentTimestamp);
  return {
    messageId: m.MessageId ?? '',
    ...(m.Attributes?.MessageGroupId ? { groupId: m.Attributes.MessageGroupId } : {}),
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
    ...(Number.isFinite(sent) ? { sentAt: new Date(sent).toISOString() } : {}),
    body: m.Body ?? '',
  };
}

export async function listDeadLetters(
  sqs: SQSClient,
  dlqUrl: string,
  max = 1000,
): Promise<DeadLetter[]> {
  const seen = new Map<string, DeadLetter>();
  let idleRounds = 0;
  while (seen.size < max && idleRounds < 2) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const before = seen.size;
    for (const m of out.Messages ?? []) if (m.MessageId) seen.set(m.MessageId, toDeadLetter(m));
    idleRounds = seen.size === before ? idleRounds + 1 : 0;
  }
  return [...seen.values()];
}

/** Moves every dead letter back to `queueUrl`; returns how many moved. */
export async function replayDeadLetters(
  sqs: SQSClient,
  dlqUrl: string,
  queueUrl: string,
  progress: (moved: number) => void = () => {},
): Promise<number> {
  let moved = 0;
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 60,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return moved;
    for (const m of messages) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: m.Body ?? '',
          MessageGroupId: m.Attributes?.MessageGroupId ?? 'replay',
          MessageDeduplicationId: `replay-${sha256Hex(m.MessageId ?? m.Body ?? '').slice(0, 64)}`,
        }),
      );
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle }),
      );
      moved += 1;
      progress(moved);
    }
  }
}
