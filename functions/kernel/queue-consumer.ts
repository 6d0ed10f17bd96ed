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
 * A record whose body does not parse is poison: it is logged, counted (`PoisonMessage`) and
 * acknowledged, because DynamoDB holds the truth and the recovery schedule re-rings real work.
 * A failpoint crash aborts the whole invocation, as a real crash would: the remaining records are
 * not processed and the batch comes back after its visibility timeout.
 */
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { FailpointCrashError } from './failpoints.js';
import type { QueueName } from './resource-names.js';
import { countMetric, logger, withInvocation, withTelemetrySource } from './telemetry.js';

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

function parseRecord<S extends z.ZodType>(schema: S, record: SQSRecord): z.output<S> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/**
 * One record: parsed (a poison record is logged, counted and acknowledged), then handled inside the
 * telemetry context `queue:<name>`. Throws to fail the record; a failpoint crash is rethrown as is.
 */
export async function handleRecord<S extends z.ZodType>(
  options: QueueConsumerOptions<S>,
  record: SQSRecord,
): Promise<void> {
  return withTelemetrySource(`queue:${options.queue}`, async () => {
    const body = parseRecord(options.schema, record);
    if (body === undefined) {
      logger.error('poison message acknowledged', {
        messageId: record.messageId,
        queue: options.queue,
      });
      countMetric('PoisonMessage');
      return;
    }
    try {
      await options.handle({
        body,
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
  return middy((event: SQSEvent, context: Context) =>
    withInvocation('queue', context, () => consume(event)),
  ).use(injectLambdaContext(logger));
}

/** A Lambda handler for an SQS FIFO event source with `ReportBatchItemFailures`. */
export function queueConsumer<S extends z.ZodType>(options: QueueConsumerOptions<S>) {
  return sqsLambdaHandler(consumeBatch(options));
}
