/**
 * `putOnce`: create an item only if its key is new. One conditional write, never a read-then-write:
 * the loser of a race learns what the winner wrote from the same request
 * (`ReturnValuesOnConditionCheckFailure: ALL_OLD`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AtomicWrite } from './atomic.js';

export type Item = Record<string, unknown>;

export type PutOnceResult<T extends Item> =
  | { readonly created: true; readonly item: T }
  | { readonly created: false; readonly existing: T };

export interface PutOnceInput<T extends Item> {
  readonly table: string;
  readonly item: T;
  /** The partition key attribute. @default 'pk' */
  readonly partitionKey?: string;
}

export async function putOnce<T extends Item>(
  ddb: DynamoDBDocumentClient,
  input: PutOnceInput<T>,
): Promise<PutOnceResult<T>> {
  const pk = input.partitionKey ?? 'pk';
  try {
    await ddb.send(
      new PutCommand({
        TableName: input.table,
        Item: input.item,
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': pk },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { created: true, item: input.item };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException && error.Item) {
      return { created: false, existing: unmarshall(error.Item) as T };
    }
    throw error;
  }
}

/**
 * The same create-if-new as one labelled write of a `writeAtomically` transaction (the item and,
 * say, its listing or its counter together): fails the transaction, with the existing item in the
 * failure report, when the key is taken.
 */
export function putOnceWrite(label: string, input: PutOnceInput<Item>): AtomicWrite {
  return {
    label,
    put: {
      table: input.table,
      item: input.item,
      condition: 'attribute_not_exists(#pk)',
      names: { '#pk': input.partitionKey ?? 'pk' },
    },
  };
}
