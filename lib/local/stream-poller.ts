/**
 * Lambda's DynamoDB event source mapping, locally: read a table's stream from DynamoDB Local
 * (ListStreams, DescribeStream, GetShardIterator, GetRecords), hand the handler each batch as a
 * real `DynamoDBStreamEvent`, and move on exactly as Lambda does:
 *
 * - **From the oldest record kept** (`TRIM_HORIZON`), shard by shard in lineage order: a child shard
 *   is read only once its parent is read to its end (DynamoDB Local closes a shard and opens its
 *   child when it rolls, e.g. at a restart on kept data), so per item order holds across shards.
 * - **Partial batch responses** (`ReportBatchItemFailures`): the checkpoint moves to just before the
 *   lowest sequence number reported, and the records from there on come again. An empty or unknown
 *   `itemIdentifier` fails the whole batch
 *   (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html).
 * - **Bisect on error**: a failing batch of more than one record is split in two and each half is
 *   tried alone (bisections do not count as retries); a single record (or a batch whose first
 *   record is the one reported) is retried `retryAttempts` times, then its description goes to the
 *   on-failure queue as Lambda's invocation record (`DDBStreamBatchInfo`: shard, sequence range,
 *   stream) and the shard moves past it.
 * - **Checkpoints kept** in `<dataDir>/streams/<function>.json` (written whole and renamed), after
 *   every batch that moved: a runtime killed and started again on the same data goes on from the
 *   last checkpoint, so it may give a batch again (at least once, as Lambda does) but never skips.
 *
 * Every call is made as the function, through the AWS gateway: the stream reads and the dead
 * letters need the grants the stack gives the function's role, or fail as they would on AWS.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type AttributeValue,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  ListStreamsCommand,
  type Shard,
  type _Record as StreamRecord,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type {
  DynamoDBRecord,
  DynamoDBStreamEvent,
  AttributeValue as LambdaAttributeValue,
} from 'aws-lambda';
import { describeError, type HandlerLoader, invokeHandler, type LocalFunction } from './lambda.js';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './resources.js';

/** How often a batching window reads its shard again while it gathers. */
const WINDOW_READ_MS = 100;

export interface StreamPollerOptions {
  /** Signed as the function (its access key), on the AWS gateway. */
  readonly streams: DynamoDBStreamsClient;
  /** Signed as the function, on the AWS gateway: the dead letters. */
  readonly sqs: SQSClient;
  readonly deadLetterQueueUrl: string;
  /** Physical names of the tables whose streams this function reads. */
  readonly tables: readonly string[];
  readonly fn: LocalFunction;
  readonly loader: Pick<HandlerLoader, 'load'>;
  readonly batchSize: number;
  readonly retryAttempts: number;
  /**
   * Lambda's batching window: after a shard's first records, keep reading it for up to this long
   * (or until `batchSize`) before handing them over. @default 0
   */
  readonly batchingWindowMs?: number;
  /** Where the shards' checkpoints are kept. */
  readonly checkpointFile: string;
  /** @default 250 */
  readonly idleMs?: number;
  readonly log: (line: string) => void;
}

export interface StreamPoller {
  /** Stops reading, waits for the batch in progress, resolves when idle. */
  stop(): Promise<void>;
  /** Resolves once every record written so far has been handed over (tests wait on it). */
  drained(): Promise<void>;
}

/** Per stream, per shard: the last sequence number handed over for good, and whether it ended. */
interface ShardCheckpoint {
  readonly after?: string;
  readonly done?: true;
}
type Checkpoints = Record<string, Record<string, ShardCheckpoint>>;

export function readCheckpoints(file: string): Checkpoints {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Checkpoints;
  } catch {
    return {};
  }
}

function writeCheckpoints(file: string, checkpoints: Checkpoints): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${randomUUID()}`;
  writeFileSync(temporary, JSON.stringify(checkpoints));
  renameSync(temporary, file);
}

export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  const abort = new AbortController();
  const checkpoints = readCheckpoints(options.checkpointFile);
  const idleMs = options.idleMs ?? 250;
  let lastError = '';
  /** Resolved at every pass that found nothing new in any shard of any table. */
  let idleWaiters: Array<() => void> = [];
  let idlePasses = 0;

  const save = (streamArn: string, shardId: string, checkpoint: ShardCheckpoint) => {
    checkpoints[streamArn] = { ...checkpoints[streamArn], [shardId]: checkpoint };
    writeCheckpoints(options.checkpointFile, checkpoints);
  };

  const loop = (async () => {
    while (!abort.signal.aborted) {
      let moved = false;
      try {
        for (const table of options.tables) {
          if (abort.signal.aborted) break;
          moved = (await pollTable(table)) || moved;
        }
        lastError = '';
      } catch (error) {
        if (abort.signal.aborted) break;
        const line = describeError(error);
        if (line !== lastError) options.log(`[stream] ${options.fn.name}: ${line}`);
        lastError = line;
      }
      if (!moved) {
        idlePasses += 1;
        const waiting = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiting) resolve();
        await delay(idleMs, abort.signal);
      }
    }
  })();

  /** One pass over a table's stream: each readable shard read once. True when anything moved. */
  async function pollTable(table: string): Promise<boolean> {
    const listed = await options.streams.send(new ListStreamsCommand({ TableName: table }));
    // The newest stream of the table (a table has one while its stream is on).
    const streamArn = listed.Streams?.map((s) => s.StreamArn ?? '')
      .sort()
      .at(-1);
    if (!streamArn) return false;
    const shards = await describeShards(streamArn);
    const state = checkpoints[streamArn] ?? {};
    const known = new Set(shards.map((s) => s.ShardId));
    let moved = false;
    for (const shard of shards) {
      const id = shard.ShardId;
      if (!id || state[id]?.done) continue;
      // Lineage: a child waits for its parent (one no longer listed has aged out: nothing to wait for).
      const parent = shard.ParentShardId;
      if (parent && known.has(parent) && !checkpoints[streamArn]?.[parent]?.done) continue;
      moved = (await pollShard(streamArn, id)) || moved;
    }
    return moved;
  }

  async function describeShards(streamArn: string): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await options.streams.send(
        new DescribeStreamCommand({
          StreamArn: streamArn,
          ...(start ? { ExclusiveStartShardId: start } : {}),
        }),
      );
      shards.push(...(out.StreamDescription?.Shards ?? []));
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  async function iteratorFrom(streamArn: string, shardId: string): Promise<string | undefined> {
    const after = checkpoints[streamArn]?.[shardId]?.after;
    const request = after
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: after }
      : { ShardIteratorType: 'TRIM_HORIZON' as const };
    try {
      const out = await options.streams.send(
        new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ...request }),
      );
      return out.ShardIterator;
    } catch (error) {
      if (!(error instanceof TrimmedDataAccessException) || !after) throw error;
      // The checkpoint's record is older than the stream keeps (24 hours): what follows it is lost
      // to every reader, as on AWS; go on from the oldest record kept.
      options.log(`[stream] ${options.fn.name}: ${shardId} trimmed past its checkpoint`);
      const out = await options.streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      return out.ShardIterator;
    }
  }

  /** Reads one batch of a shard from its checkpoint and hands it over. True when anything moved. */
  async function pollShard(streamArn: string, shardId: string): Promise<boolean> {
    let iterator = await iteratorFrom(streamArn, shardId);
    // DynamoDB Streams may answer an empty page before the records that follow: a few pages on.
    for (let page = 0; iterator && page < 4 && !abort.signal.aborted; page++) {
      let out: GetRecordsCommandOutput;
      try {
        out = await options.streams.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: options.batchSize }),
        );
      } catch (error) {
        if (error instanceof ExpiredIteratorException) return false;
        throw error;
      }
      const records = out.Records ?? [];
      if (records.length > 0) {
        await handOver(streamArn, shardId, await gathered(records, out.NextShardIterator));
        return true;
      }
      if (!out.NextShardIterator) {
        // Read to its end: the shard is closed, its children may start.
        save(streamArn, shardId, { ...checkpoints[streamArn]?.[shardId], done: true });
        return true;
      }
      iterator = out.NextShardIterator;
    }
    return false;
  }

  /**
   * Lambda's batching window: the records read so far, and what the shard gives within the window
   * after them, up to `batchSize` (a full batch goes at once).
   */
  async function gathered(
    first: readonly StreamRecord[],
    next: string | undefined,
  ): Promise<StreamRecord[]> {
    const batch = [...first];
    const windowMs = options.batchingWindowMs ?? 0;
    const deadline = Date.now() + windowMs;
    let iterator = next;
    while (
      windowMs > 0 &&
      iterator &&
      batch.length < options.batchSize &&
      Date.now() < deadline &&
      !abort.signal.aborted
    ) {
      await delay(Math.min(WINDOW_READ_MS, deadline - Date.now()), abort.signal);
      try {
        const out = await options.streams.send(
          new GetRecordsCommand({
            ShardIterator: iterator,
            Limit: options.batchSize - batch.length,
          }),
        );
        batch.push(...(out.Records ?? []));
        iterator = out.NextShardIterator;
      } catch (error) {
        // Hand over what was gathered; the next pass reads on from the checkpoint.
        if (error instanceof ExpiredIteratorException) break;
        throw error;
      }
    }
    return batch;
  }

  /** Lambda's handling of one batch: partial failures, bisection, bounded retries, dead letters. */
  async function handOver(
    streamArn: string,
    shardId: string,
    records: readonly StreamRecord[],
  ): Promise<void> {
    const lambdaRecords = records.map((r) => toLambdaRecord(r, streamArn));
    const pending: Array<{ from: number; to: number; attempts: number }> = [
      { from: 0, to: lambdaRecords.length, attempts: 0 },
    ];
    while (pending.length > 0 && !abort.signal.aborted) {
      const range = pending[0] as { from: number; to: number; attempts: number };
      const batch = lambdaRecords.slice(range.from, range.to);
      const outcome = await invoke(batch);
      if (outcome.kind === 'ok') {
        moveTo(streamArn, shardId, batch.at(-1));
        pending.shift();
        continue;
      }
      if (outcome.kind === 'partial' && outcome.firstFailed > 0) {
        // The records before the one reported are done; the rest come again (progress: not a
        // retry of the same records).
        moveTo(streamArn, shardId, batch[outcome.firstFailed - 1]);
        range.from += outcome.firstFailed;
        continue;
      }
      if (batch.length > 1) {
        // Bisect (not counted as a retry): the first half first, so order per shard holds.
        const middle = range.from + Math.ceil(batch.length / 2);
        pending.splice(
          0,
          1,
          { from: range.from, to: middle, attempts: range.attempts },
          { from: middle, to: range.to, attempts: range.attempts },
        );
        continue;
      } else {
        range.attempts += 1;
      }
      if (range.attempts > options.retryAttempts) {
        await deadLetter(streamArn, shardId, lambdaRecords.slice(range.from, range.to), range);
        moveTo(streamArn, shardId, lambdaRecords[range.to - 1]);
        pending.shift();
      }
    }
  }

  function moveTo(streamArn: string, shardId: string, record: DynamoDBRecord | undefined): void {
    const sequence = record?.dynamodb?.SequenceNumber;
    if (sequence) save(streamArn, shardId, { after: sequence });
  }

  type Outcome = { kind: 'ok' } | { kind: 'failed' } | { kind: 'partial'; firstFailed: number };

  async function invoke(batch: DynamoDBRecord[]): Promise<Outcome> {
    const event: DynamoDBStreamEvent = { Records: batch };
    try {
      const handler = await options.loader.load(options.fn);
      return streamOutcome(await invokeHandler(handler, event, options.fn), batch);
    } catch (error) {
      options.log(
        `[stream] ${options.fn.name}: batch of ${batch.length} failed: ${describeError(error)}`,
      );
      return { kind: 'failed' };
    }
  }

  async function deadLetter(
    streamArn: string,
    shardId: string,
    batch: DynamoDBRecord[],
    range: { attempts: number },
  ): Promise<void> {
    const first = batch[0]?.dynamodb;
    const last = batch.at(-1)?.dynamodb;
    const arrival = (seconds: number | undefined) => new Date((seconds ?? 0) * 1000).toISOString();
    // Lambda's invocation record for a stream's discarded batch (what its on-failure destination
    // receives: where the records were, never the records).
    const record = {
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${options.fn.name}`,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: range.attempts,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId,
        startSequenceNumber: first?.SequenceNumber,
        endSequenceNumber: last?.SequenceNumber,
        approximateArrivalOfFirstRecord: arrival(first?.ApproximateCreationDateTime),
        approximateArrivalOfLastRecord: arrival(last?.ApproximateCreationDateTime),
        batchSize: batch.length,
        streamArn,
      },
    };
    await options.sqs.send(
      new SendMessageCommand({
        QueueUrl: options.deadLetterQueueUrl,
        MessageBody: JSON.stringify(record),
      }),
    );
    options.log(
      `[stream] ${options.fn.name}: ${batch.length} record(s) of ${shardId} given up after ${range.attempts} attempt(s): to the DLQ`,
    );
  }

  return {
    async stop() {
      abort.abort();
      await loop;
    },
    drained() {
      // Two idle passes after the call: the first may have started before the last write.
      const target = idlePasses + 2;
      return new Promise<void>((resolve) => {
        const check = () => {
          if (idlePasses >= target || abort.signal.aborted) resolve();
          else idleWaiters.push(check);
        };
        check();
      });
    },
  };
}

/**
 * Lambda's reading of a stream handler's answer: no `batchItemFailures` (or an empty list) is
 * success; an entry that is empty or names no record of the batch fails the whole batch; else the
 * lowest sequence number reported is where the batch failed.
 */
export function streamOutcome(
  result: unknown,
  batch: readonly DynamoDBRecord[],
): { kind: 'ok' } | { kind: 'failed' } | { kind: 'partial'; firstFailed: number } {
  const failures = (result as { batchItemFailures?: unknown } | null | undefined)
    ?.batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'ok' };
  if (!Array.isArray(failures)) return { kind: 'failed' };
  if (failures.length === 0) return { kind: 'ok' };
  const positions = new Map(batch.map((r, i) => [r.dynamodb?.SequenceNumber, i]));
  let first = Number.POSITIVE_INFINITY;
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    const at = typeof id === 'string' && id !== '' ? positions.get(id) : undefined;
    if (at === undefined) return { kind: 'failed' };
    first = Math.min(first, at);
  }
  return { kind: 'partial', firstFailed: first };
}

/** A record as Lambda hands it over: DynamoDB JSON images (binary as base64), epoch seconds. */
export function toLambdaRecord(record: StreamRecord, streamArn: string): DynamoDBRecord {
  const stream = record.dynamodb ?? {};
  const created = stream.ApproximateCreationDateTime;
  const image = (value: Record<string, AttributeValue> | undefined) =>
    value === undefined ? undefined : toLambdaImage(value);
  const keys = image(stream.Keys);
  const newImage = image(stream.NewImage);
  const oldImage = image(stream.OldImage);
  return {
    eventID: record.eventID ?? '',
    eventName: record.eventName as DynamoDBRecord['eventName'],
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: LOCAL_REGION,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(created.getTime() / 1000) } : {}),
      ...(keys ? { Keys: keys } : {}),
      ...(newImage ? { NewImage: newImage } : {}),
      ...(oldImage ? { OldImage: oldImage } : {}),
      ...(stream.SequenceNumber ? { SequenceNumber: stream.SequenceNumber } : {}),
      ...(stream.SizeBytes !== undefined ? { SizeBytes: stream.SizeBytes } : {}),
      ...(stream.StreamViewType ? { StreamViewType: stream.StreamViewType } : {}),
    },
  };
}

function toLambdaImage(
  image: Record<string, AttributeValue>,
): Record<string, LambdaAttributeValue> {
  return Object.fromEntries(
    Object.entries(image).map(([name, value]) => [name, toLambdaValue(value)]),
  );
}

function toLambdaValue(value: AttributeValue): LambdaAttributeValue {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaValue) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) };
  throw new Error('a stream image holds an attribute value of no known type');
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
