/**
 * The DynamoDB Streams consumer every stream-triggered function goes through (the fourth edge,
 * beside http, queue and schedule): Lambda's `DynamoDBStreamEvent` (records of one shard, in
 * sequence order) read into `StreamChange`s (images unmarshalled: nothing above this sees an
 * `AttributeValue`), handed to the function in order, and the answer mapped to Lambda's partial
 * batch response for streams (`ReportBatchItemFailures`).
 *
 * Lambda's rule for a stream is not SQS's: it checkpoints before the record with the lowest
 * sequence number reported and retries from there, so every record after a failed one comes back
 * too (order per shard is kept). So the consumer reports exactly one `itemIdentifier`: the sequence
 * number of the first record that failed. A record whose images do not read fails there as well:
 * with `bisectBatchOnError` and the bounded retries it ends alone in the on-failure destination
 * (the DLQ), and the shard moves on.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
 *
 * `lagMetric` (the change feed's `ChangeFeedLagSeconds`): how old the newest record of the batch
 * was when it was handled (the commit time the stream reports, to the clock seam), the handler's
 * own view of what Lambda reports as `IteratorAge`.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type {
  Context,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  AttributeValue as StreamAttributeValue,
} from 'aws-lambda';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { withEdgeMiddleware } from './edge-middleware.js';
import { countMetric, logger, MetricUnit, withInvocation } from './telemetry.js';

type Image = Readonly<Record<string, unknown>>;

/** One committed change of one item, as the change feed reports it. */
export interface StreamChange {
  readonly eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  /** The item before the write (absent for an insert). */
  readonly oldImage?: Image;
  /** The item after the write (absent for a removal). */
  readonly newImage?: Image;
  /**
   * When the write committed (the stream's `ApproximateCreationDateTime`, ISO-8601, to the second
   * as Lambda gives it): an event's time when the item records none of its own.
   */
  readonly committedAt: string;
  readonly sequenceNumber: string;
}

/** What the function says of a batch: the index of the first change it could not take, if any. */
export interface StreamBatchResult {
  readonly firstFailed?: number;
}

export interface StreamConsumerOptions {
  /** Telemetry source `stream:<name>`. */
  readonly name: string;
  readonly handle: (changes: readonly StreamChange[]) => Promise<StreamBatchResult>;
  /** @default systemClock */
  readonly clock?: Clock;
  /**
   * The metric the batch's lag is emitted under (the events change feed's `ChangeFeedLagSeconds`).
   * A consumer that measures its own lag (the counter fold: `CounterFoldLagSeconds`, of what it
   * folded) leaves it out: one metric per pipeline, so one pipeline's lag never fires another's
   * alarm (its Metrics Insights query sums every source emitting the name).
   */
  readonly lagMetric?: 'ChangeFeedLagSeconds';
}

export class UnreadableStreamRecordError extends Error {
  override name = 'UnreadableStreamRecordError';
}

/** Reads one Lambda stream record; throws `UnreadableStreamRecordError` (never with its values). */
export function toStreamChange(record: DynamoDBRecord): StreamChange {
  const stream = record.dynamodb;
  const name = record.eventName;
  if (!stream?.SequenceNumber || (name !== 'INSERT' && name !== 'MODIFY' && name !== 'REMOVE')) {
    throw new UnreadableStreamRecordError(
      `stream record ${record.eventID ?? '?'}: no sequence number or event name`,
    );
  }
  const seconds = stream.ApproximateCreationDateTime;
  return {
    eventName: name,
    sequenceNumber: stream.SequenceNumber,
    committedAt: new Date((typeof seconds === 'number' ? seconds : 0) * 1000).toISOString(),
    ...(stream.OldImage ? { oldImage: image(stream.OldImage) } : {}),
    ...(stream.NewImage ? { newImage: image(stream.NewImage) } : {}),
  };
}

// Lambda's stream images are DynamoDB JSON with binary values as base64 strings; the SDK's
// `unmarshall` takes the same shape (its `B` may be a string), so the cast is only of the type.
function image(raw: Record<string, StreamAttributeValue>): Image {
  return unmarshall(raw as Parameters<typeof unmarshall>[0]);
}

/** The partial batch response: the first failed record's sequence number (see the header). */
export function batchFailures(
  records: readonly DynamoDBRecord[],
  firstFailed: number | undefined,
): DynamoDBBatchResponse {
  if (firstFailed === undefined) return { batchItemFailures: [] };
  const sequenceNumber = records[firstFailed]?.dynamodb?.SequenceNumber;
  // A record without a sequence number cannot be named: fail the whole batch, as Lambda would.
  if (!sequenceNumber) throw new UnreadableStreamRecordError('a failed record has no sequence');
  return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
}

/** Reads the batch, hands what reads to `handle`, and answers Lambda's partial batch response. */
export async function consumeStreamBatch(
  options: StreamConsumerOptions,
  event: DynamoDBStreamEvent,
): Promise<DynamoDBBatchResponse> {
  const records = event.Records ?? [];
  const changes: StreamChange[] = [];
  let unreadable: number | undefined;
  for (const [index, record] of records.entries()) {
    try {
      changes.push(toStreamChange(record));
    } catch (error) {
      logger.error('unreadable stream record: failed so that it reaches the DLQ', {
        eventID: record.eventID,
        sequenceNumber: record.dynamodb?.SequenceNumber,
        error: error instanceof Error ? error.name : 'Error',
      });
      unreadable = index;
      break;
    }
  }
  const result = changes.length > 0 ? await options.handle(changes) : {};
  const newest = changes.at(-1);
  if (newest && options.lagMetric) {
    const now = (options.clock ?? systemClock).now();
    countMetric(
      options.lagMetric,
      Math.max(0, Math.round((now - Date.parse(newest.committedAt)) / 1000)),
      MetricUnit.Seconds,
    );
  }
  return batchFailures(records, result.firstFailed ?? unreadable);
}

export function streamConsumer(options: StreamConsumerOptions) {
  return withEdgeMiddleware(
    middy((event: DynamoDBStreamEvent, context: Context) =>
      withInvocation(`stream:${options.name}`, context, () => consumeStreamBatch(options, event)),
    ),
  );
}
