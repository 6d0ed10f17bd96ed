/**
 * Counts what a benchmark's DynamoDB work costs: an SDK middleware on the client counts every
 * request charged to a tally, asks for `ReturnConsumedCapacity`, and sums the write and read units
 * DynamoDB reports. DynamoDB Local reports none for a refused conditional write, which AWS still
 * charges: those are estimated (1 per item, 2 per transactional item) and kept apart.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface DynamoDbTally {
  requests: number;
  /** Write units DynamoDB reported. */
  wcu: number;
  /** Read units DynamoDB reported. */
  rcu: number;
  /** Write units estimated for writes that reported none (refused conditions). */
  estimatedWcu: number;
}

export const emptyDynamoDbTally = (): DynamoDbTally => ({
  requests: 0,
  wcu: 0,
  rcu: 0,
  estimatedWcu: 0,
});

const WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'TransactWriteItems',
  'BatchWriteItem',
]);

type Capacity = { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number };

export interface TallyMiddlewareOptions {
  /** The middleware's name on the client's stack. */
  readonly name: string;
  /** The tally this request is charged to, or `undefined` to leave it uncounted. */
  readonly chargeTo: () => DynamoDbTally | undefined;
  /** `INDEXES` asks DynamoDB to list every secondary index's units as well. @default 'TOTAL' */
  readonly capacity?: 'TOTAL' | 'INDEXES';
}

/** Adds the counting middleware to `client`. */
export function addTallyMiddleware(client: DynamoDBClient, options: TallyMiddlewareOptions): void {
  client.middlewareStack.add(
    (next, context) => async (call) => {
      const tally = options.chargeTo();
      if (!tally) return next(call);
      const isWrite = WRITES.has((context.commandName ?? '').replace(/Command$/, ''));
      tally.requests += 1;
      const input = call.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = options.capacity ?? input.ReturnConsumedCapacity ?? 'TOTAL';
      try {
        const out = await next(call);
        const consumed = (out.output as { ConsumedCapacity?: Capacity | Capacity[] })
          .ConsumedCapacity;
        const list = Array.isArray(consumed) ? consumed : consumed ? [consumed] : [];
        if (isWrite && list.length === 0) tally.estimatedWcu += 1;
        for (const c of list) {
          tally.wcu += c.WriteCapacityUnits ?? (isWrite ? c.CapacityUnits : 0) ?? 0;
          tally.rcu += c.ReadCapacityUnits ?? (isWrite ? 0 : c.CapacityUnits) ?? 0;
        }
        return out;
      } catch (error) {
        if (isWrite) {
          const items = (input.TransactItems as unknown[] | undefined)?.length;
          tally.estimatedWcu += items ? 2 * items : 1;
        }
        throw error;
      }
    },
    { step: 'initialize', name: options.name },
  );
}

export interface DynamoDbCounter {
  /** Starts a fresh tally; every request from now on is counted. */
  start(): void;
  /** Stops counting and returns the tally since `start`. */
  stop(): DynamoDbTally;
}

/** Counts every request `client` makes between `start` and `stop`. */
export function countDynamoDb(client: DynamoDBClient, name: string): DynamoDbCounter {
  let counting = false;
  let tally = emptyDynamoDbTally();
  addTallyMiddleware(client, { name, chargeTo: () => (counting ? tally : undefined) });
  return {
    start() {
      tally = emptyDynamoDbTally();
      counting = true;
    },
    stop() {
      counting = false;
      return tally;
    },
  };
}
