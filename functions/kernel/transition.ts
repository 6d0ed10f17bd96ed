/**
 * Guarded state transitions: move an item from one of the expected states to the next, and only
 * then. With companion writes (counters, uniqueness items) the whole move is one transaction, so a
 * counter can never move without the state it counts. The result says which guard failed.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AtomicWrite } from './atomic.js';
import { conditionalUpdateWith } from './conditional-update.js';
import type { Item } from './put-once.js';
import type { Condition } from './update-expression.js';

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
  /** An extra guard ANDed with the state guard. */
  readonly also?: Condition;
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

/** The guard: the state attribute exists and holds one of `from`. */
function fromGuard(field: string, from: readonly string[]): Condition {
  const values: Record<string, unknown> = {};
  const states = from.map((state, i) => {
    values[`:from${i}`] = state;
    return `#state = :from${i}`;
  });
  return {
    expression: `attribute_exists(#state) AND (${states.join(' OR ')})`,
    names: { '#state': field },
    values,
  };
}

export async function transition(
  ddb: DynamoDBDocumentClient,
  input: TransitionInput,
): Promise<TransitionResult> {
  if (input.from.length === 0) throw new Error('transition needs at least one from-state');
  const field = input.field ?? 'status';
  const result = await conditionalUpdateWith(ddb, {
    label: 'transition',
    table: input.table,
    key: input.key,
    set: { ...input.set, [field]: input.to },
    ...(input.remove && input.remove.length > 0 ? { remove: input.remove } : {}),
    conditions: [fromGuard(field, input.from), ...(input.also ? [input.also] : [])],
    ...(input.with ? { with: input.with } : {}),
  });
  if (result.applied) return { applied: true };
  return {
    applied: false,
    failed: result.failed,
    ...(result.current ? { current: result.current } : {}),
  };
}
