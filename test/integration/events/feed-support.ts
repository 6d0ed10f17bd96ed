/**
 * The change feed's test harness: a fresh table with the ledger's layout and stream, conversions
 * logged by the ledger's own store, the real stream edge and change feed around a recording sink,
 * and the local stream poller reading DynamoDB Local's stream directly (the grants are the gateway's
 * test). Shared by `change-feed.test.ts` and `test/crash-matrix/events.flow.ts`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
} from '@aws-sdk/client-dynamodb-streams';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { expect } from 'vitest';
import { feedChanges } from '../../../functions/events/change-feed.js';
import type { EventSink, OnceflowEvent } from '../../../functions/events/model.js';
import { streamConsumer } from '../../../functions/kernel/stream-consumer.js';
import { DynamoDbLedgerStore } from '../../../functions/ledger/index.js';
import type { ConversionItem } from '../../../functions/ledger/model.js';
import { conversionIdOf, stayIdOf } from '../../../functions/ledger/model.js';
import type { LambdaHandler, LocalFunction } from '../../../lib/local/lambda.js';
import { ensureTable } from '../../../lib/local/provision.js';
import { LOCAL_REGION, localQueueUrl } from '../../../lib/local/resources.js';
import { type StreamPoller, startStreamPoller } from '../../../lib/local/stream-poller.js';
import { tables } from '../../../lib/manifest.js';
import { emulatorEndpoints, testDynamoDbClient, testSqsClient } from '../../support/emulators.js';

const FN: LocalFunction = { name: 'changeFeed', entry: 'functions/events/handlers/change-feed.ts' };

// One set of clients for the worker (the emulators live as long as it does).
export const ddb = DynamoDBDocumentClient.from(testDynamoDbClient());
const streams = new DynamoDBStreamsClient({
  endpoint: emulatorEndpoints().dynamodb,
  region: LOCAL_REGION,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
export const sqs: SQSClient = testSqsClient();
const dir = mkdtempSync(join(tmpdir(), 'change-feed-'));
const pollers: StreamPoller[] = [];

/** Stops every poller started since the last call. */
export async function stopPollers(): Promise<void> {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
}

/** A checkpoint file of its own. */
export const checkpointFile = () => join(dir, `${randomUUID()}.json`);

/** A fresh table with the ledger's layout and stream, and the ledger's own store on it. */
export async function ledgerTable() {
  const name = `feed-${randomUUID().slice(0, 8)}`;
  await ensureTable(testDynamoDbClient(), name, tables.ledger);
  return { name, store: new DynamoDbLedgerStore(ddb, name) };
}

/** `n` conversions logged by the ledger's store, in order. */
export async function logConversions(
  store: DynamoDbLedgerStore,
  tenantId: string,
  n: number,
  from = 0,
): Promise<ConversionItem[]> {
  const logged: ConversionItem[] = [];
  for (let i = from; i < from + n; i++) {
    const userId = `user-${i}`;
    const conversion: ConversionItem = {
      conversionId: conversionIdOf(tenantId, userId, 'signature_obtained', 'unsigned_users', 1),
      tenantId,
      userId,
      type: 'signature_obtained',
      queueType: 'unsigned_users',
      stayId: stayIdOf(tenantId, 'unsigned_users', userId, 1),
      stayNo: 1,
      source: 'event',
      occurredAt: '2026-12-07T01:00:00.000Z',
      loggedAt: `2026-12-07T01:00:0${i % 10}.000Z`,
      evidenceId: `e:${userId}`,
    };
    const result = await store.putConversion(conversion);
    expect(result.created).toBe(true);
    logged.push(conversion);
  }
  return logged;
}

export interface Invocation {
  readonly event: DynamoDBStreamEvent;
  readonly result?: DynamoDBBatchResponse;
  readonly threw?: boolean;
}

/** The real stream edge and change feed, with `sink`; every invocation recorded. */
export function feedHandler(sink: EventSink) {
  const invocations: Invocation[] = [];
  const consumer = streamConsumer({
    name: 'changeFeed',
    lagMetric: 'ChangeFeedLagSeconds',
    handle: (changes) => feedChanges(changes, sink),
  });
  const handler: LambdaHandler = async (event, context) => {
    try {
      const result = (await consumer(event as DynamoDBStreamEvent, context)) as
        | DynamoDBBatchResponse
        | undefined;
      invocations.push({ event: event as DynamoDBStreamEvent, ...(result ? { result } : {}) });
      return result;
    } catch (error) {
      invocations.push({ event: event as DynamoDBStreamEvent, threw: true });
      throw error;
    }
  };
  return { handler, invocations };
}

/** Takes every event, except those `refuse` says no to (counting each offer). */
export function recordingSink(
  refuse: (event: OnceflowEvent, offer: number) => boolean = () => false,
) {
  const accepted: OnceflowEvent[] = [];
  const offers = new Map<string, number>();
  const sink: EventSink = {
    async accept(events) {
      const failed: string[] = [];
      for (const event of events) {
        const offer = (offers.get(event.eventId) ?? 0) + 1;
        offers.set(event.eventId, offer);
        if (refuse(event, offer)) failed.push(event.eventId);
        else accepted.push(event);
      }
      return { failed };
    },
  };
  return { sink, accepted, offers };
}

export async function poll(
  table: string,
  handler: LambdaHandler,
  options: {
    checkpoint?: string;
    retryAttempts?: number;
    dlq?: string;
    batchSize?: number;
    /** Lambda's batching window (ms). */
    batchingWindowMs?: number;
    /** Told each time the poller's read of a shard answered records (before it goes on). */
    onRecordsRead?: () => void | Promise<void>;
    /** Not stopped by `stopPollers` (a poller the file keeps for all its tests; it stops it). */
    untracked?: boolean;
  } = {},
): Promise<StreamPoller> {
  const onRead = options.onRecordsRead;
  const reader = onRead
    ? ({
        async send(command: GetRecordsCommand) {
          const out = await streams.send(command);
          if (
            command instanceof GetRecordsCommand &&
            (out as GetRecordsCommandOutput).Records?.length
          ) {
            await onRead();
          }
          return out;
        },
      } as unknown as DynamoDBStreamsClient)
    : streams;
  const poller = startStreamPoller({
    streams: reader,
    sqs,
    deadLetterQueueUrl: options.dlq ?? localQueueUrl(emulatorEndpoints().sqs, 'unused'),
    tables: [table],
    fn: FN,
    loader: { load: async () => handler },
    batchSize: options.batchSize ?? 100,
    retryAttempts: options.retryAttempts ?? 2,
    ...(options.batchingWindowMs ? { batchingWindowMs: options.batchingWindowMs } : {}),
    checkpointFile: options.checkpoint ?? checkpointFile(),
    idleMs: 20,
    log: () => {},
  });
  if (!options.untracked) pollers.push(poller);
  return poller;
}

export const conversionIds = (events: readonly OnceflowEvent[]) =>
  events.map((e) => e.data.conversionId);
export const sequencesOf = (invocation: Invocation | undefined) =>
  (invocation?.event.Records ?? []).map((r) => r.dynamodb?.SequenceNumber);
