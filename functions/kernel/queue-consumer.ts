/**
 * The SQS consumer every queue-triggered function goes through: Powertools Batch with partial batch
 * responses (`ReportBatchItemFailures`), each record parsed with a zod schema and handled inside
 * the telemetry context `queue:<name>` (a handler narrows it further, e.g. `background_job:<type>`,
 * with `withTelemetrySource`).
 *
 * Why `SqsFifoPartialProcessorAsync` with `skipGroupOnError` rather than a plain `BatchProcessor`:
 * every onceflow queue is FIFO, and on a FIFO queue a failed record must not be overtaken by a later
 * record of the same message group. The FIFO processor fails the rest of that group (and only that
 * group), so other groups in the batch still complete; a plain processor would report later records
 * of the failed group as done, out of order.
 *
 * Each record is parsed with the kernel's SQS record schema (`aws-events.ts`), its body with the consumer's
 * schema (JSON-decoded). A record that does not parse is poison: it is logged (without its body),
 * counted (`PoisonMessage`) and reported as a batch item failure, never silently acknowledged, so
 * SQS redelivers it until `maxReceiveCount` moves it to the queue's dead-letter queue, where an
 * operator can see it.
 * A failpoint crash aborts the whole invocation, as a real crash would: the remaining records are
 * not processed and the batch comes back after its visibility timeout.
 *
 * A consumer starts no record with less than the manifest's `recordSeconds` (the longest one record
 * takes) left of its invocation: that record and the rest of its group are handed back untouched,
 * made visible again at once (`ChangeMessageVisibility` 0, so the next invocation takes them without
 * waiting out the visibility timeout) and reported as batch item failures. Records of one message
 * group run one after another, and ten slow records (token waits, provider timeouts) would
 * otherwise outrun the function, whose timeout cuts a record mid-way (a send claimed and never
 * answered) and hides the whole batch, records already done included, for the visibility timeout.
 */
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  GetQueueUrlCommand,
} from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { jsonStringified, sqsRecordSchema as sqsRecordBase } from './aws-events.js';
import { sqs } from './clients.js';
import { recordSeconds } from './config.js';
import { withEdgeMiddleware } from './edge-middleware.js';
import { FailpointCrashError } from './failpoints.js';
import type { QueueName } from './resource-names.js';
import { countMetric, logger, withInvocation, withTelemetrySource } from './telemetry.js';
import * as z from './zod.js';

/** A record that does not match its schema: failed, so that it ends in the dead-letter queue. */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

export interface QueueMessage<T> {
  readonly body: T;
  readonly messageId: string;
  readonly groupId?: string;
  /** How many times SQS has delivered this message, this delivery included. */
  readonly receiveCount: number;
  /** The record itself, for `hideFor` (a consumer that holds a message back on purpose). */
  readonly record?: SQSRecord;
  /** The rest of its batch, as far as the consumer knows (set by `fifoGroupConsumer`). */
  readonly batch?: BatchProgress;
}

/**
 * What a record knows of the rest of its batch while it runs: e.g. the campaign sender books the
 * send tokens of the records after it with its own (`token-bucket.ts`).
 */
export interface BatchProgress {
  /**
   * Records of the batch running beside this one that have not called `pass`; with `peer`, only
   * those whose message group it accepts (e.g. the same campaign's: a token of one number is no
   * use to a record of another).
   */
  readonly ahead: (peer?: (messageGroupId: string) => boolean) => number;
  /** This record no longer counts in the others' `ahead` (e.g. it holds its send token). */
  readonly pass: () => void;
}

/**
 * Hides a received message for `seconds` (SQS's most: 12 hours) before SQS hands it out again: a
 * consumer that fails a record on purpose until a due time (a webhook retry's backoff) holds it,
 * and in a FIFO queue its message group with it, without spending a receive per visibility timeout.
 */
export async function hideFor(record: SQSRecord, seconds: number): Promise<void> {
  const url = await queueUrlOf(record.eventSourceARN);
  await sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: url,
      ReceiptHandle: record.receiptHandle,
      VisibilityTimeout: Math.max(0, Math.min(43_200, Math.ceil(seconds))),
    }),
  );
}

export interface QueueConsumerOptions<S extends z.core.$ZodType> {
  readonly queue: QueueName;
  readonly schema: S;
  readonly handle: (message: QueueMessage<z.output<S>>) => Promise<void>;
}

/** How much time the invocation has left, and how much one record needs at its longest. */
export interface BatchDeadline {
  readonly remainingMs: () => number;
  readonly recordMs: number;
  /** Where a consumer puts the records it hands back unstarted. */
  readonly handedBack?: SQSRecord[];
}

/** Not enough time left for one more record: it goes back to the queue untouched. */
export class RecordDeadlineError extends Error {
  override name = 'RecordDeadlineError';
}

/** True when a record may still start: always without a deadline. */
export function timeForRecord(deadline: BatchDeadline | undefined): boolean {
  return deadline === undefined || deadline.remainingMs() >= deadline.recordMs;
}

/** Logged once per batch that handed records back for lack of time. */
export function logDeadline(queue: QueueName, returned: number, deadline?: BatchDeadline): void {
  if (returned === 0) return;
  logger.info('records handed back: not enough time left in this invocation for one more', {
    queue,
    returned,
    recordMs: deadline?.recordMs,
  });
}

/** The deadline of a Lambda invocation: the function's remaining time and the manifest's bound. */
function deadlineOf(context: Context | undefined): BatchDeadline | undefined {
  const seconds = recordSeconds();
  if (seconds === undefined || typeof context?.getRemainingTimeInMillis !== 'function') {
    return undefined;
  }
  return {
    remainingMs: () => context.getRemainingTimeInMillis(),
    recordMs: seconds * 1000,
    handedBack: [],
  };
}

const queueUrls = new Map<string, Promise<string | undefined>>();

/** The URL of a record's queue, from its ARN (`arn:aws:sqs:<region>:<account>:<name>`), cached. */
function queueUrlOf(arn: string): Promise<string | undefined> {
  let url = queueUrls.get(arn);
  if (!url) {
    const [, , , , account, name] = arn.split(':');
    url = sqs
      .send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }))
      .then((out) => out.QueueUrl);
    url.catch(() => queueUrls.delete(arn));
    queueUrls.set(arn, url);
  }
  return url;
}

/**
 * Makes handed-back records visible again at once. On failure they simply come back after the
 * visibility timeout, as any failed record does.
 */
export async function returnToQueue(records: readonly SQSRecord[]): Promise<void> {
  const byQueue = new Map<string, SQSRecord[]>();
  for (const record of records) {
    byQueue.set(record.eventSourceARN, [...(byQueue.get(record.eventSourceARN) ?? []), record]);
  }
  for (const [arn, list] of byQueue) {
    try {
      const url = await queueUrlOf(arn);
      for (let i = 0; i < list.length; i += 10) {
        await sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: list.slice(i, i + 10).map((record, j) => ({
              Id: String(j),
              ReceiptHandle: record.receiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        );
      }
    } catch (error) {
      logger.warn(
        'handed-back records not returned at once; they return after the visibility timeout',
        {
          queue: arn.split(':').at(-1),
          error,
        },
      );
    }
  }
}

const recordSchemas = new WeakMap<z.core.$ZodType, z.core.$ZodType>();

/** The SQS record schema with this body schema (JSON-decoded), built once per body schema. */
export function sqsRecordSchema<S extends z.core.$ZodType>(body: S) {
  let schema = recordSchemas.get(body);
  if (!schema) {
    schema = z.extend(sqsRecordBase, { body: jsonStringified(body) });
    recordSchemas.set(body, schema);
  }
  return schema;
}

function parseRecord<S extends z.core.$ZodType>(
  schema: S,
  record: SQSRecord,
): { ok: true; body: z.output<S> } | { ok: false; issues: string[] } {
  const parsed = z.safeParse(sqsRecordSchema(schema), record);
  if (parsed.success) return { ok: true, body: (parsed.data as { body: z.output<S> }).body };
  return {
    ok: false,
    // Paths and messages only: never the body's values (phone numbers, texts).
    issues: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.code}`),
  };
}

/**
 * One record: parsed (a poison record is logged, counted and failed), then handled inside the
 * telemetry context `queue:<name>`. Throws to fail the record; a failpoint crash is rethrown as is.
 */
export async function handleRecord<S extends z.core.$ZodType>(
  options: QueueConsumerOptions<S>,
  record: SQSRecord,
  batch?: BatchProgress,
): Promise<void> {
  return withTelemetrySource(`queue:${options.queue}`, async () => {
    const parsed = parseRecord(options.schema, record);
    if (!parsed.ok) {
      logger.error('poison message: failed so that it reaches the dead-letter queue', {
        messageId: record.messageId,
        queue: options.queue,
        receiveCount: record.attributes?.ApproximateReceiveCount,
        issues: parsed.issues,
      });
      countMetric('PoisonMessage');
      throw new PoisonMessageError(`record ${record.messageId} does not match its schema`);
    }
    try {
      await options.handle({
        body: parsed.body,
        messageId: record.messageId,
        ...(record.attributes.MessageGroupId ? { groupId: record.attributes.MessageGroupId } : {}),
        receiveCount: Number(record.attributes.ApproximateReceiveCount ?? '1') || 1,
        record,
        ...(batch ? { batch } : {}),
      });
    } catch (error) {
      if (!(error instanceof FailpointCrashError)) {
        logger.warn('queue record failed; SQS will redeliver it', {
          messageId: record.messageId,
          error,
        });
      }
      throw error;
    }
  });
}

/** Builds the record-level work of a consumer; exported so tests can drive it without a Lambda. */
export function consumeBatch<S extends z.core.$ZodType>(options: QueueConsumerOptions<S>) {
  return async (event: SQSEvent, deadline?: BatchDeadline): Promise<SQSBatchResponse> => {
    let crash: FailpointCrashError | undefined;
    const started = new Set<string>();
    const outOfTime = new Set<string>();
    const groupOf = (record: SQSRecord) => record.attributes.MessageGroupId ?? record.messageId;
    const recordHandler = async (record: SQSRecord): Promise<void> => {
      if (crash) throw crash;
      if (!timeForRecord(deadline)) {
        outOfTime.add(groupOf(record));
        throw new RecordDeadlineError(`no time left for record ${record.messageId}`);
      }
      started.add(record.messageId);
      try {
        await handleRecord(options, record);
      } catch (error) {
        if (error instanceof FailpointCrashError) crash = error;
        throw error;
      }
    };
    const processor = new SqsFifoPartialProcessorAsync();
    const response = await processPartialResponse(event, recordHandler, processor, {
      skipGroupOnError: true,
      throwOnFullBatchFailure: false,
    });
    if (crash) throw crash;
    // Not started for lack of time: the record that met the deadline and the rest of its group
    // (which the processor failed without calling the handler, to keep the group in order).
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const handedBack = event.Records.filter(
      (r) => failed.has(r.messageId) && !started.has(r.messageId) && outOfTime.has(groupOf(r)),
    );
    deadline?.handedBack?.push(...handedBack);
    logDeadline(options.queue, handedBack.length, deadline);
    return response;
  };
}

/**
 * Wraps a batch function as a Lambda handler for an SQS FIFO event source with
 * `ReportBatchItemFailures`; the invocation runs as `queue:<name>`, the source of its metrics.
 */
export function sqsLambdaHandler(
  queue: QueueName,
  consume: (event: SQSEvent, deadline?: BatchDeadline) => Promise<SQSBatchResponse>,
) {
  return withEdgeMiddleware(
    middy((event: SQSEvent, context: Context) =>
      withInvocation(`queue:${queue}`, context, async () => {
        const deadline = deadlineOf(context);
        const response = await consume(event, deadline);
        if (deadline?.handedBack?.length) await returnToQueue(deadline.handedBack);
        return response;
      }),
    ),
  );
}

/** A Lambda handler for an SQS FIFO event source with `ReportBatchItemFailures`. */
export function queueConsumer<S extends z.core.$ZodType>(options: QueueConsumerOptions<S>) {
  return sqsLambdaHandler(options.queue, consumeBatch(options));
}
