/**
 * Counts what a benchmark's DynamoDB work costs: an SDK middleware on the shared client counts
 * every request while counting is on, asks for `ReturnConsumedCapacity: TOTAL`, and sums the write
 * units DynamoDB reports. DynamoDB Local reports none for a refused conditional write, which AWS
 * still charges: those are estimated (1 per item, 2 per transactional item) and kept apart.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface DynamoDbTally {
  requests: number;
  /** Write units DynamoDB reported. */
  wcu: number;
  /** Write units estimated for writes that reported none (refused conditions). */
  estimatedWcu: number;
}

const WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'TransactWriteItems',
  'BatchWriteItem',
]);

type Capacity = { CapacityUnits?: number; WriteCapacityUnits?: number };

export interface DynamoDbCounter {
  /** Starts a fresh tally. */
  start(): void;
  /** Stops counting and returns what was counted since `start()`. */
  stop(): DynamoDbTally;
}

export function countDynamoDb(client: DynamoDBClient, name: string): DynamoDbCounter {
  let counting = false;
  let tally: DynamoDbTally = { requests: 0, wcu: 0, estimatedWcu: 0 };
  client.middlewareStack.add(
    (next, context) => async (call) => {
      if (!counting) return next(call);
      const t = tally;
      const isWrite = WRITES.has((context.commandName ?? '').replace(/Command$/, ''));
      t.requests += 1;
      const input = call.input as Record<string, unknown>;
      input.ReturnConsumedCapacity ??= 'TOTAL';
      try {
        const out = await next(call);
        const consumed = (out.output as { ConsumedCapacity?: Capacity | Capacity[] })
          .ConsumedCapacity;
        const list = Array.isArray(consumed) ? consumed : consumed ? [consumed] : [];
        if (isWrite) {
          if (list.length === 0) t.estimatedWcu += 1;
          for (const c of list) t.wcu += c.WriteCapacityUnits ?? c.CapacityUnits ?? 0;
        }
        return out;
      } catch (error) {
        if (isWrite) {
          const items = (input.TransactItems as unknown[] | undefined)?.length;
          t.estimatedWcu += items ? 2 * items : 1;
        }
        throw error;
      }
    },
    { step: 'initialize', name },
  );
  return {
    start() {
      tally = { requests: 0, wcu: 0, estimatedWcu: 0 };
      counting = true;
    },
    stop() {
      counting = false;
      return tally;
    },
  };
}
