/**
 * `writeAtomically`: several writes that must happen together or not at all (a state change, its
 * counter and its uniqueness item), as one `TransactWriteItems`. Each write carries a label, so a
 * cancelled transaction reports which condition failed, with the item as it stood.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Item } from './put-once.js';
import { buildCondition, type Condition } from './update-expression.js';

type Names = Record<string, string>;
type Values = Record<string, unknown>;

/** The condition a write is guarded by, with its placeholders. */
interface Guard {
  readonly condition?: string;
  readonly names?: Names;
  readonly values?: Values;
}

/** A write to one item named by its key. */
interface KeyedWrite extends Guard {
  readonly table: string;
  readonly key: Item;
}

export type AtomicWrite = { readonly label: string } & (
  | { readonly put: Guard & { readonly table: string; readonly item: Item } }
  | { readonly update: KeyedWrite & { readonly update: string } }
  | { readonly delete: KeyedWrite }
  | { readonly check: KeyedWrite & { readonly condition: string } }
);

/** One write whose condition failed, with its item as it stood (when it existed). */
export interface FailedWrite {
  readonly label: string;
  /** Its position in the writes given. */
  readonly index: number;
  readonly current?: Item;
}

export type AtomicResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** Label of the first write whose condition failed (see `failures` for all of them). */
      readonly failed: string;
      /** That item as it stood, when it existed. */
      readonly current?: Item;
      /** EVERY write whose condition failed, in the order given. */
      readonly failures: readonly FailedWrite[];
    };

/** DynamoDB's limit on one transaction. */
export const MAX_TRANSACTION_ITEMS = 100;

function expressionParts(names?: Names, values?: Values) {
  return {
    ...(names && Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    ...(values && Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}

/** What every kind of write carries: its condition, placeholders, and the item back on failure. */
function guardParts(w: Guard) {
  return {
    ...(w.condition ? { ConditionExpression: w.condition } : {}),
    ...expressionParts(w.names, w.values),
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

function toTransactItem(write: AtomicWrite) {
  if ('put' in write) {
    const { table, item, ...guard } = write.put;
    return { Put: { TableName: table, Item: item, ...guardParts(guard) } };
  }
  if ('update' in write) {
    const { table, key, update, ...guard } = write.update;
    return {
      Update: { TableName: table, Key: key, UpdateExpression: update, ...guardParts(guard) },
    };
  }
  if ('delete' in write) {
    const { table, key, ...guard } = write.delete;
    return { Delete: { TableName: table, Key: key, ...guardParts(guard) } };
  }
  const { table, key, ...guard } = write.check;
  return {
    ConditionCheck: {
      TableName: table,
      Key: key,
      ...guardParts(guard),
      ConditionExpression: guard.condition,
    },
  };
}

/**
 * A labelled condition check of a transaction: the item must satisfy `conditions` (ANDed, in the
 * kernel's one `Condition` shape) for the other writes to happen; it is not written.
 */
export function conditionCheckWrite(
  label: string,
  input: { readonly table: string; readonly key: Item; readonly conditions: readonly Condition[] },
): AtomicWrite {
  const built = buildCondition(input.conditions);
  if (!built.condition) throw new Error('a condition check needs at least one condition');
  return {
    label,
    check: {
      table: input.table,
      key: input.key,
      condition: built.condition,
      names: built.names,
      values: built.values,
    },
  };
}

export class TransactionTooLargeError extends Error {
  override name = 'TransactionTooLargeError';
}

/**
 * Runs the writes as one transaction. A failed condition is an answer, not an error; a conflict with
 * another transaction (`TransactionConflict`) or throttling is thrown for the caller's retry policy
 * (the SDK already retries throttling).
 */
export async function writeAtomically(
  ddb: DynamoDBDocumentClient,
  writes: readonly AtomicWrite[],
  clientRequestToken?: string,
): Promise<AtomicResult> {
  if (writes.length === 0) return { ok: true };
  if (writes.length > MAX_TRANSACTION_ITEMS) {
    throw new TransactionTooLargeError(
      `a transaction holds at most ${MAX_TRANSACTION_ITEMS} writes, got ${writes.length}`,
    );
  }
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: writes.map(toTransactItem),
        ...(clientRequestToken ? { ClientRequestToken: clientRequestToken } : {}),
      }),
    );
    return { ok: true };
  } catch (error) {
    if (error instanceof TransactionCanceledException) {
      const reasons = error.CancellationReasons ?? [];
      const failures: FailedWrite[] = reasons.flatMap((reason, index) =>
        reason.Code === 'ConditionalCheckFailed'
          ? [
              {
                label: writes[index]?.label ?? `#${index}`,
                index,
                ...(reason.Item ? { current: unmarshall(reason.Item) } : {}),
              },
            ]
          : [],
      );
      const [first] = failures;
      if (first) {
        return {
          ok: false,
          failed: first.label,
          ...(first.current ? { current: first.current } : {}),
          failures,
        };
      }
    }
    throw error;
  }
}

/** True when a transaction lost a race with another one and may simply be retried. */
export function isTransactionConflict(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === 'TransactionConflict')
  );
}
