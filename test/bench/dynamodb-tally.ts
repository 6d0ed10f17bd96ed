/**
 * Counts what a benchmark's DynamoDB work costs: an SDK middleware on the client counts every
 * request charged to a tally, asks for `ReturnConsumedCapacity`, and sums the write and read units
 * DynamoDB reports. DynamoDB Local reports none for a refused conditional write, which AWS still
 * charges: those are estimated (1 per item, 2 per transactional item) and kept apart.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AwsCall, AwsCallObserver } from '../../lib/local/aws-gateway.js';

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

/**
 * Charges one request to `tally`: the units DynamoDB reported, or, for a write that reported none
 * (a refused condition), the estimate AWS would charge (1 per item, 2 per transactional item).
 */
export function chargeRequest(
  tally: DynamoDbTally,
  operation: string,
  input: Readonly<Record<string, unknown>>,
  outcome: { readonly failed: boolean; readonly output?: Readonly<Record<string, unknown>> },
): void {
  const isWrite = WRITES.has(operation);
  tally.requests += 1;
  if (outcome.failed) {
    if (isWrite) {
      const items = (input.TransactItems as unknown[] | undefined)?.length;
      tally.estimatedWcu += items ? 2 * items : 1;
    }
    return;
  }
  const consumed = outcome.output?.ConsumedCapacity as Capacity | Capacity[] | undefined;
  const list = Array.isArray(consumed) ? consumed : consumed ? [consumed] : [];
  if (isWrite && list.length === 0) tally.estimatedWcu += 1;
  for (const c of list) {
    tally.wcu += c.WriteCapacityUnits ?? (isWrite ? c.CapacityUnits : 0) ?? 0;
    tally.rcu += c.ReadCapacityUnits ?? (isWrite ? 0 : c.CapacityUnits) ?? 0;
  }
}

/** Adds the counting middleware to `client`. */
export function addTallyMiddleware(client: DynamoDBClient, options: TallyMiddlewareOptions): void {
  client.middlewareStack.add(
    (next, context) => async (call) => {
      const tally = options.chargeTo();
      if (!tally) return next(call);
      const operation = (context.commandName ?? '').replace(/Command$/, '');
      const input = call.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = options.capacity ?? input.ReturnConsumedCapacity ?? 'TOTAL';
      try {
        const out = await next(call);
        chargeRequest(tally, operation, input, {
          failed: false,
          output: out.output as unknown as Record<string, unknown>,
        });
        return out;
      } catch (error) {
        chargeRequest(tally, operation, input, { failed: true });
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

/** A counter over whatever charges to the tally it hands out while counting. */
function counter(attach: (chargeTo: () => DynamoDbTally | undefined) => void): DynamoDbCounter {
  let counting = false;
  let tally = emptyDynamoDbTally();
  attach(() => (counting ? tally : undefined));
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

/** Counts every request `client` makes between `start` and `stop`. */
export function countDynamoDb(client: DynamoDBClient, name: string): DynamoDbCounter {
  return counter((chargeTo) => addTallyMiddleware(client, { name, chargeTo }));
}

/**
 * Observes the DynamoDB calls of the local runtime's functions (each runs in its own worker, so
 * no middleware in this process sees them: the runtime's AWS gateway reports them instead).
 */
export interface RuntimeCalls {
  observeAwsCalls(observer: AwsCallObserver): () => void;
}

/**
 * Charges every DynamoDB call of the runtime's functions to the tally `chargeTo` names at that
 * moment (none: not counted), with `capacity` asked of DynamoDB.
 */
export function tallyRuntimeCalls(
  runtime: RuntimeCalls,
  options: {
    readonly chargeTo: (call: AwsCall) => DynamoDbTally | undefined;
    readonly capacity?: 'TOTAL' | 'INDEXES';
  },
): () => void {
  return runtime.observeAwsCalls({
    consumedCapacity: options.capacity ?? 'TOTAL',
    observe(call) {
      if (call.service !== 'dynamodb') return;
      const tally = options.chargeTo(call);
      if (!tally) return;
      chargeRequest(tally, call.operation, call.input, {
        failed: call.status !== 200,
        ...(call.output ? { output: call.output } : {}),
      });
    },
  });
}

/** Counts every DynamoDB call the runtime's functions make between `start` and `stop`. */
export function countRuntimeDynamoDb(runtime: RuntimeCalls): DynamoDbCounter {
  return counter((chargeTo) => tallyRuntimeCalls(runtime, { chargeTo }));
}
