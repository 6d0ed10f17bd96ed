/**
 * The campaigns' doorbells: the port fan-out, recovery and the operator's retry ring through, and
 * its SQS FIFO adapter (deterministic deduplication ids: `enqueueFifo`). A doorbell is only ever a
 * hint: the recipient item decides (DynamoDB is the truth, SQS is a doorbell).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { enqueueFifo, type FifoMessage } from '../kernel/fifo.js';

export interface CampaignQueues {
  /** Rings recipients' doorbells on the sends queue. */
  sends(messages: readonly FifoMessage[]): Promise<void>;
  /** Rings fan-out shards on the fanout queue. */
  fanout(messages: readonly FifoMessage[]): Promise<void>;
}

/** The doorbells on two SQS FIFO queues. */
export function sqsCampaignQueues(
  sqs: SQSClient,
  urls: { readonly sends: string; readonly fanout: string },
): CampaignQueues {
  return {
    sends: (messages) => enqueueFifo(sqs, urls.sends, messages),
    fanout: (messages) => enqueueFifo(sqs, urls.fanout, messages),
  };
}
