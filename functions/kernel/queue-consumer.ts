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
 * Each record is parsed with Powertools Parser's `SqsRecordSchema`, its body with the consumer's
 * schema (JSON-decoded). A record that does not parse is poison: it is logged (without its body),
 * counted (`PoisonMessage`) and reported as a batch item failure, never silently acknowledged, so
 * SQS redelivers it until `maxReceiveCount` moves it to the queue's dead-letter queue, where an
 * operator can see it.
 * A failpoint crash aborts the whole invocation, as a real crash would: the remaining records are
 * not processed and the batch comes back after its visibility timeout.
 */
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
// The schema's own module, not the `schemas` barrel (which builds every event schema at import).
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { withEdgeMiddleware } from './edge-middleware.js';
import { FailpointCrashError } from './failpoints.js';
import type { QueueName } from './resource-names.js';
import { countMetric, logger, withInvocation, withTelemetrySource } from './telemetry.js';

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
}

export interface QueueConsumerOptions<S extends z.ZodType> {
  readonly queue: QueueName;
  readonly schema: S;
  readonly handle: (message: QueueMessage<z.output<S>>) => Promise<void>;
}

const recordSchemas = new WeakMap<z.ZodType, z.ZodType>();

/** The SQS record schema with this body schema (JSON-decoded), built once per body schema. */
export function sqsRecordSchema<S extends z.ZodType>(body: S) {
  let schema = recordSchemas.get(body);
  if (!schema) {
    schema = SqsRecordSchema.extend({ body: JSONStringified(body) });
    recordSchemas.set(body, schema);
  }
  return schema;
}

function parseRecord<S extends z.ZodType>(
  schema: S,
  record: SQSRecord,
): { ok: true; body: z.output<S> } | { ok: false; issues: string[] } {
  const parsed = sqsRecordSchema(schema).safeParse(record);
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
export async function handleRecord<S extends z.ZodType>(
  options: QueueConsumerOptions<S>,
  record: SQSRecord,
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
export function consumeBatch<S extends z.ZodType>(options: QueueConsumerOptions<S>) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    let crash: FailpointCrashError | undefined;
    const recordHandler = async (record: SQSRecord): Promise<void> => {
      if (crash) throw crash;
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
    return response;
  };
}

/** Wraps a batch function as a Lambda handler for an SQS FIFO event source with `ReportBatchItemFailures`. */
export function sqsLambdaHandler(consume: (event: SQSEvent) => Promise<SQSBatchResponse>) {
  return withEdgeMiddleware(
    middy((event: SQSEvent, context: Context) =>
      withInvocation('queue', context, () => consume(event)),
    ),
  );
}

/** A Lambda handler for an SQS FIFO event source with `ReportBatchItemFailures`. */
export function queueConsumer<S extends z.ZodType>(options: QueueConsumerOptions<S>) {
  return sqsLambdaHandler(consumeBatch(options));
}
