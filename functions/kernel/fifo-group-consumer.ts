/**
 * An SQS FIFO consumer that works the message groups of a batch in parallel: records of one group
 * one after the other, in order; different groups at the same time. A failed record fails the rest
 * of its group (so nothing overtakes it) and only that group. Same record parsing, poison handling
 * and crash semantics as `queue-consumer.ts`, whose options it takes.
 *
 * For consumers whose records wait on a provider (the campaign sender): Powertools'
 * `SqsFifoPartialProcessorAsync` runs a batch strictly one record at a time, which caps a consumer
 * at one provider call in flight per batch.
 *
 * Each record is told how many others of its batch are running beside it and have not passed
 * (`QueueMessage.batch`; `pass()`, e.g. once it holds its send token), optionally only those of the
 * message groups it names (its own campaign's): the heads of the groups at first, then each
 * group's next record as it starts. A record waiting behind another of its group
 * is not counted: it starts only when that one has finished, usually well after a moment's demand
 * (a send token booked for it now would have passed by then).
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { FailpointCrashError } from './failpoints.js';
import {
  type BatchDeadline,
  type BatchProgress,
  handleRecord,
  logDeadline,
  type QueueConsumerOptions,
  sqsLambdaHandler,
  timeForRecord,
} from './queue-consumer.js';
import type * as z from './zod.js';

export function consumeGroupsInParallel<S extends z.core.$ZodType>(
  options: QueueConsumerOptions<S>,
) {
  return async (event: SQSEvent, deadline?: BatchDeadline): Promise<SQSBatchResponse> => {
    const groupOf = (record: SQSRecord) => record.attributes.MessageGroupId ?? record.messageId;
    const groups = new Map<string, SQSRecord[]>();
    for (const record of event.Records) {
      const group = groupOf(record);
      groups.set(group, [...(groups.get(group) ?? []), record]);
    }
    const failed: string[] = [];
    let crash: FailpointCrashError | undefined;
    let returned = 0;
    // Records running (every group's head from the start: they all start at once), not passed.
    const open = new Set([...groups.values()].flatMap((records) => records.slice(0, 1)));
    const progressOf = (record: SQSRecord): BatchProgress => ({
      ahead: (peer) => {
        let n = 0;
        for (const other of open) if (other !== record && (!peer || peer(groupOf(other)))) n++;
        return n;
      },
      pass: () => void open.delete(record),
    });
    await Promise.all(
      [...groups.values()].map(async (records) => {
        for (const [index, record] of records.entries()) {
          const failRest = () => {
            open.delete(record);
            failed.push(...records.slice(index).map((r) => r.messageId));
          };
          if (crash) return failRest();
          // Not started: this record and the rest of its group go back, in order.
          if (!timeForRecord(deadline)) {
            returned += records.length - index;
            deadline?.handedBack?.push(...records.slice(index));
            return failRest();
          }
          open.add(record);
          try {
            await handleRecord(options, record, progressOf(record));
          } catch (error) {
            if (error instanceof FailpointCrashError) crash = error;
            return failRest();
          } finally {
            open.delete(record);
          }
        }
      }),
    );
    if (crash) throw crash;
    logDeadline(options.queue, returned, deadline);
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

/** A Lambda handler for an SQS FIFO event source with `ReportBatchItemFailures`. */
export function fifoGroupConsumer<S extends z.core.$ZodType>(options: QueueConsumerOptions<S>) {
  return sqsLambdaHandler(options.queue, consumeGroupsInParallel(options));
}
