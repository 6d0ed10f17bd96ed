/**
 * `conditionalUpdate`: THE conditional write of an existing (or new) item. One call: key,
 * set/add/remove, condition; the answer is applied (with the item as it now is) or not applied
 * (with the item as it stood, from the same request: `ReturnValuesOnConditionCheckFailure`).
 * A failed condition is an answer, not an error; everything else propagates.
 *
 * `transition` and `claimLease` are built on it; `conditionalUpdateWrite` gives the same update as
 * one labelled write of a `writeAtomically` transaction.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AtomicWrite } from './atomic.js';
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
