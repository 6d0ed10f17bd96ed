/**
 * What every crash-matrix flow does after a simulated crash, written once: run a step again (as a
 * client or a redelivery would), and pass over a private queue as the event source does.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { sqs } from '../../functions/kernel/clients.js';
import { FailpointCrashError } from '../../functions/kernel/failpoints.js';

/** Runs `fn` again after a simulated crash, as a client or a redelivery would. */
export async function untilItLands<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof FailpointCrashError) || attempt > 3) throw error;
    }
  }
}

/**
 * One pass over a queue, as the event source does: delete what succeeded, leave the rest. A crash
 * or an error named `retryErrorName` (the pipeline's "retry later") leaves the message to come back
 * after its visibility timeout; anything else fails the flow.
 */
export async function drainQueue(
  url: string,
  retryErrorName: string,
  handle: (body: unknown) => Promise<void>,
): Promise<void> {
  for (let empty = 0; empty < 2; ) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const messages: Message[] = out.Messages ?? [];
    if (messages.length === 0) {
      empty += 1;
      continue;
    }
    const done: Message[] = [];
    for (const m of messages) {
      try {
        await handle(JSON.parse(m.Body ?? '{}'));
        done.push(m);
      } catch (error) {
        if (!(error instanceof FailpointCrashError) && (error as Error).name !== retryErrorName) {
          throw error;
        }
      }
    }
    if (done.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  }
}
