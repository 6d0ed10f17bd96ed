/**
 * The Lambda SQS event source mapping, locally: long-poll a FIFO queue, hand each batch to the
 * handler as a real SQS event, and delete exactly the records the handler did not report in
 * `batchItemFailures` (`ReportBatchItemFailures`). A handler that throws, times out or reports an
 * unknown item fails the whole batch: nothing is deleted, the emulator makes the messages visible
 * again after the visibility timeout and moves them to the dead-letter queue after
 * `maxReceiveCount` receives.
 *
 * The emulator counts visibility timeouts in real time; the runtime's clock seam
 * (`POST /_local/clock/advance`) does not reach it. So the poller remembers when each message it
 * left in flight becomes visible again and, when the clock moves ahead, shortens what is left of that
 * timeout by as much (`ChangeMessageVisibility`): a crashed batch waits out its visibility timeout
 * on the same clock as every lease and window, as it would on AWS, without a test sleeping for it.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describeError, type HandlerLoader, invokeHandler, type LocalFunction } from './lambda.js';
import { LOCAL_REGION, type LocalQueue } from './resources.js';

export interface QueuePollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly fn: LocalFunction;
  readonly loader: Pick<HandlerLoader, 'load'>;
  /** ReceiveMessage `MaxNumberOfMessages`, 1..10. */
  readonly batchSize: number;
  /** Concurrent receive-invoke loops on this queue. @default 2 */
  readonly concurrency?: number;
  /** @default 1 */
  readonly waitTimeSeconds?: number;
  readonly log: (line: string) => void;
}

export interface QueuePoller {
  /** Stops receiving, waits for batches in progress (their handlers finish), resolves when idle. */
  stop(): Promise<void>;
  /** The clock moved `seconds` ahead: messages left in flight become visible that much sooner. */
  clockAdvanced(seconds: number): Promise<void>;
}

export function startQueuePoller(options: QueuePollerOptions): QueuePoller {
  const abort = new AbortController();
  let lastError = '';
  /** Messages left in flight (not deleted): receipt handle → when they are visible again (ms). */
  const held = new Map<string, number>();
  let visibilityTimeoutMs: Promise<number> | undefined;
  const visibilityTimeout = () => {
    visibilityTimeoutMs ??= options.sqs
      .send(
        new GetQueueAttributesCommand({
          QueueUrl: options.queueUrl,
          AttributeNames: ['VisibilityTimeout'],
        }),
      )
      .then((out) => Number(out.Attributes?.VisibilityTimeout ?? 30) * 1000);
    return visibilityTimeoutMs;
  };
  const hold = async (kept: readonly Message[], receivedAt: number) => {
    if (kept.length === 0) return;
    const visibleAt = receivedAt + (await visibilityTimeout().catch(() => 30_000));
    // Forget what is visible again by now: a runtime whose clock never moves keeps no more than
    // the messages of one visibility timeout.
    const now = Date.now();
    for (const [handle, at] of held) if (at <= now) held.delete(handle);
    for (const message of kept) {
      if (message.ReceiptHandle) held.set(message.ReceiptHandle, visibleAt);
    }
  };
  const loops = Array.from({ length: Math.max(1, options.concurrency ?? 2) }, () => pollLoop());

  async function pollLoop(): Promise<void> {
    while (!abort.signal.aborted) {
      let messages: Message[];
      try {
        const received = await options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: Math.min(10, Math.max(1, options.batchSize)),
            WaitTimeSeconds: options.waitTimeSeconds ?? 1,
            AttributeNames: ['All'],
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        );
        messages = received.Messages ?? [];
        lastError = '';
      } catch (error) {
        if (abort.signal.aborted) return;
        // Report a persistent failure once, not every poll.
        const line = describeError(error);
        if (line !== lastError) options.log(`[queue] ${options.fn.name}: receive failed: ${line}`);
        lastError = line;
        await delay(1000, abort.signal);
        continue;
      }
      if (messages.length > 0) await processBatch(messages, Date.now());
    }
  }

  async function processBatch(messages: Message[], receivedAt: number): Promise<void> {
    const event: SQSEvent = {
      Records: messages.map((message) => toSqsRecord(message, options.queueArn)),
    };
    let failed: Set<string>;
    try {
      const handler = await options.loader.load(options.fn);
      failed = failedItems(await invokeHandler(handler, event, options.fn), event);
    } catch (error) {
      options.log(
        `[queue] ${options.fn.name}: batch of ${messages.length} failed: ${describeError(error)}`,
      );
      await hold(messages, receivedAt);
      return;
    }
    await hold(
      messages.filter((m) => m.MessageId && failed.has(m.MessageId)),
      receivedAt,
    );
    const done = messages.filter((m) => m.MessageId && !failed.has(m.MessageId));
    if (done.length === 0) return;
    try {
      const result = await options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
      for (const failure of result.Failed ?? []) {
        options.log(
          `[queue] ${options.fn.name}: delete failed: ${failure.Message ?? failure.Code}`,
        );
      }
    } catch (error) {
      // Not deleted means delivered again: the handler must be idempotent anyway.
      options.log(`[queue] ${options.fn.name}: delete failed: ${describeError(error)}`);
    }
  }

  return {
    async stop() {
      abort.abort();
      await Promise.all(loops);
    },
    async clockAdvanced(seconds) {
      const now = Date.now();
      await Promise.all(
        [...held].map(async ([receiptHandle, visibleAt]) => {
          held.delete(receiptHandle);
          const leftMs = visibleAt - now;
          if (leftMs <= 0) return;
          const timeout = Math.max(0, Math.ceil(leftMs / 1000 - seconds));
          try {
            await options.sqs.send(
              new ChangeMessageVisibilityCommand({
                QueueUrl: options.queueUrl,
                ReceiptHandle: receiptHandle,
                VisibilityTimeout: timeout,
              }),
            );
            if (timeout > 0) held.set(receiptHandle, now + timeout * 1000);
          } catch {
            // Received again, deleted, or handed back already: nothing of this receipt is in flight.
          }
        }),
      );
    },
  };
}

/**
 * The message ids to keep, per Lambda's partial batch response rules: `batchItemFailures` lists
 * `itemIdentifier`s; an entry that is empty or names no record of the batch fails the whole batch.
 */
export function failedItems(result: unknown, event: SQSEvent): Set<string> {
  const all = new Set(event.Records.map((record) => record.messageId));
  const failures = (result as { batchItemFailures?: unknown } | null | undefined)
    ?.batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return all;
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) return all;
    failed.add(id);
  }
  return failed;
}

export function toSqsRecord(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp:
        attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
      ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
      ...(attributes.MessageDeduplicationId
        ? { MessageDeduplicationId: attributes.MessageDeduplicationId }
        : {}),
    },
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes
      ? { md5OfMessageAttributes: message.MD5OfMessageAttributes }
      : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: LOCAL_REGION,
  };
}

export interface QueueStats {
  readonly queue: string;
  readonly url: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly deadLetter: {
    readonly url: string;
    readonly visible: number;
    readonly inFlight: number;
  };
}

/** Approximate depths of each queue and its dead-letter queue. */
export async function queueStats(
  sqs: SQSClient,
  queues: readonly LocalQueue[],
): Promise<QueueStats[]> {
  const depth = async (url: string) => {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  };
  return Promise.all(
    queues.map(async (queue) => {
      const [main, dead] = await Promise.all([depth(queue.url), depth(queue.dlqUrl)]);
      return {
        queue: queue.queue,
        url: queue.url,
        ...main,
        deadLetter: { url: queue.dlqUrl, visible: dead.visible, inFlight: dead.inFlight },
      };
    }),
  );
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
