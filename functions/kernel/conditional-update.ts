/**
 * `conditionalUpdate`: THE conditional write of an existing (or new) item. One call: key,
 * set/add/remove, condition; the answer is applied (with the item as it now is) or not applied
 * (with the item as it stood, from the same request: `ReturnValuesOnConditionCheckFailure`).
 * A failed condition is an answer, not an error; everything else propagates.
 *
 * `conditionalUpdateWrite` gives the same update as one labelled write of a `writeAtomically`
 * transaction; `conditionalUpdateWith` is the update with companion writes (a counter, a
 * uniqueness item) that must happen in the same transaction, or alone when it has none.
 * `transition`, `claimLease` and `releaseLease` are built on it.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type AtomicWrite, writeAtomically } from './atomic.js';
import type { Item } from './put-once.js';
import { buildUpdate, type Condition, type UpdateSpec } from './update-expression.js';

export interface ConditionalUpdateInput extends UpdateSpec {
  readonly table: string;
  readonly key: Item;
  /** ANDed together; none means unconditional. */
  readonly conditions?: readonly Condition[];
}

export type ConditionalUpdateResult<T extends Item = Item> =
  | { readonly applied: true; readonly item: T }
  | { readonly applied: false; readonly current?: T };

export async function conditionalUpdate<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  input: ConditionalUpdateInput,
): Promise<ConditionalUpdateResult<T>> {
  const built = buildUpdate(input, input.conditions);
  try {
    const out = await ddb.send(
      new UpdateCommand({
        TableName: input.table,
        Key: input.key,
        UpdateExpression: built.update,
        ...(built.condition ? { ConditionExpression: built.condition } : {}),
        ExpressionAttributeNames: built.names,
        ...(Object.keys(built.values).length > 0
          ? { ExpressionAttributeValues: built.values }
          : {}),
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { applied: true, item: (out.Attributes ?? {}) as T };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return {
        applied: false,
        ...(error.Item ? { current: unmarshall(error.Item) as T } : {}),
      };
    }
    throw error;
  }
}

/** The same update as a labelled write of a `writeAtomically` transaction. */
export function conditionalUpdateWrite(label: string, input: ConditionalUpdateInput): AtomicWrite {
  const built = buildUpdate(input, input.conditions);
  return {
    label,
    update: {
      table: input.table,
      key: input.key,
      update: built.update,
      ...(built.condition ? { condition: built.condition } : {}),
      names: built.names,
      values: built.values,
    },
  };
}

export interface CompanionUpdateInput extends ConditionalUpdateInput {
  /** This update's label in a failure report (the companions carry their own). */
  readonly label: string;
  /** Writes that must happen in the same transaction; none (or empty): the update alone. */
  readonly with?: readonly AtomicWrite[];
}

export type CompanionUpdateResult<T extends Item = Item> =
  | {
      readonly applied: true;
      /**
       * The item as it now is, when the update went alone; a transaction (`with`) answers no
       * item (`TransactWriteItems` returns none).
       */
      readonly item?: T;
    }
  | {
      readonly applied: false;
      /** `label` when this update's own condition failed, else the failed companion's label. */
      readonly failed: string;
      /** That item as it stood, when it existed. */
      readonly current?: Item;
    };

/**
 * The conditional update with its companion writes: one `writeAtomically` transaction when there
 * are companions (a counter can never move without the state it counts), the plain
 * `conditionalUpdate` when there are none (cheaper: one write unit, and the item back). Either way
 * a failed condition is an answer naming the write whose condition failed; a `TransactionConflict`
 * is thrown for the caller's retry policy (`retryOnConflict`).
 */
export async function conditionalUpdateWith<T extends Item = Item>(
  ddb: DynamoDBDocumentClient,
  input: CompanionUpdateInput,
): Promise<CompanionUpdateResult<T>> {
  const { label, with: companions, ...update } = input;
  if (!companions || companions.length === 0) {
    const result = await conditionalUpdate<T>(ddb, update);
    if (result.applied) return { applied: true, item: result.item };
    return {
      applied: false,
      failed: label,
      ...(result.current ? { current: result.current } : {}),
    };
  }
  const result = await writeAtomically(ddb, [conditionalUpdateWrite(label, update), ...companions]);
  if (result.ok) return { applied: true };
  return {
    applied: false,
    failed: result.failed,
    ...(result.current ? { current: result.current } : {}),
  };
}
