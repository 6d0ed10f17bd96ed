/**
 * Guarded state transitions: move an item from one of the expected states to the next, and only
 * then. With companion writes (counters, uniqueness items) the whole move is one transaction, so a
 * counter can never move without the state it counts. The result says which guard failed.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type AtomicWrite, writeAtomically } from './atomic.js';
import type { Item } from './put-once.js';

export interface TransitionInput {
  readonly table: string;
  readonly key: Item;
  /** The state attribute. @default 'status' */
  readonly field?: string;
  /** Allowed current states. */
  readonly from: readonly string[];
  readonly to: string;
  /** Attributes to set along with the state (values, not expressions). */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Attributes to remove along with the state change. */
  readonly remove?: readonly string[];
  /** An extra guard ANDed with the state guard, in DynamoDB condition syntax. */
  readonly also?: {
    readonly condition: string;
    readonly names?: Record<string, string>;
    readonly values?: Record<string, unknown>;
  };
  /** Writes that must happen in the same transaction (labelled for failure reports). */
  readonly with?: readonly AtomicWrite[];
}

export type TransitionResult =
  | { readonly applied: true }
  | {
      readonly applied: false;
      /** `'transition'` when the item itself was not in an allowed state, else the failed write's label. */
      readonly failed: string;
      readonly current?: Item;
    };

/** Builds the update for a transition; shared by the single-item and transactional paths. */
export function transitionUpdate(input: TransitionInput) {
  const field = input.field ?? 'status';
  const names: Record<string, string> = {
    '#state': field,
    ...input.also?.names,
  };
  const values: Record<string, unknown> = {
    ':to': input.to,
    ...input.also?.values,
  };
  const sets = ['#state = :to'];
  Object.entries(input.set ?? {}).forEach(([attr, value], i) => {
    names[`#s${i}`] = attr;
    values[`:s${i}`] = value;
    sets.push(`#s${i} = :s${i}`);
  });
  const removes = (input.remove ?? []).map((attr, i) => {
    names[`#r${i}`] = attr;
    return `#r${i}`;
  });
  const fromGuards = input.from.map((state, i) => {
    values[`:from${i}`] = state;
    return `#state = :from${i}`;
  });
  const condition = [
    'attribute_exists(#state)',
    `(${fromGuards.join(' OR ')})`,
    ...(input.also ? [`(${input.also.condition})`] : []),
  ].join(' AND ');
  return {
    update: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
    condition,
    names,
    values,
  };
}

export async function transition(
  ddb: DynamoDBDocumentClient,
  input: TransitionInput,
): Promise<TransitionResult> {
  if (input.from.length === 0) throw new Error('transition needs at least one from-state');
  const { update, condition, names, values } = transitionUpdate(input);
  if (!input.with || input.with.length === 0) {
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: input.table,
          Key: input.key,
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { applied: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return {
          applied: false,
          failed: 'transition',
          ...(error.Item ? { current: unmarshall(error.Item) } : {}),
        };
      }
      throw error;
    }
  }
  const result = await writeAtomically(ddb, [
    {
      label: 'transition',
      update: {
        table: input.table,
        key: input.key,
        update,
        condition,
        names,
        values,
      },
    },
    ...input.with,
  ]);
  if (result.ok) return { applied: true };
  return {
    applied: false,
    failed: result.failed,
    ...(result.current ? { current: result.current } : {}),
  };
}
