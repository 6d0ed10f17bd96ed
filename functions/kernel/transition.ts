/**
 * Guarded state transitions: move an item from one of the expected states to the next, and only
 * then. With companion writes (counters, uniqueness items) the whole move is one transaction, so a
 * counter can never move without the state it counts. The result says which guard failed.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from './atomic.js';
import { conditionalUpdate, conditionalUpdateWrite } from './conditional-update.js';
import type { Item } from './put-once.js';
import { buildUpdate, type Condition } from './update-expression.js';

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

function transitionParts(input: TransitionInput) {
  const field = input.field ?? 'status';
  const fromValues: Record<string, unknown> = {};
  const fromGuards = input.from.map((state, i) => {
    fromValues[`:from${i}`] = state;
    return `#state = :from${i}`;
  });
  const conditions: Condition[] = [
    {
      expression: `attribute_exists(#state) AND (${fromGuards.join(' OR ')})`,
      names: { '#state': field },
      values: fromValues,
    },
    ...(input.also
      ? [{ expression: input.also.condition, names: input.also.names, values: input.also.values }]
      : []),
  ];
  return {
    set: { ...input.set, [field]: input.to },
    ...(input.remove && input.remove.length > 0 ? { remove: input.remove } : {}),
    conditions,
  };
}

/** Builds the update for a transition (the kernel's one builder, `update-expression.ts`). */
export function transitionUpdate(input: TransitionInput) {
  const parts = transitionParts(input);
  const built = buildUpdate(parts, parts.conditions);
  return {
    update: built.update,
    condition: built.condition ?? '',
    names: built.names,
    values: built.values,
  };
}

export async function transition(
  ddb: DynamoDBDocumentClient,
  input: TransitionInput,
): Promise<TransitionResult> {
  if (input.from.length === 0) throw new Error('transition needs at least one from-state');
  const update = { table: input.table, key: input.key, ...transitionParts(input) };
  if (!input.with || input.with.length === 0) {
    const result = await conditionalUpdate(ddb, update);
    if (result.applied) return { applied: true };
    return {
      applied: false,
      failed: 'transition',
      ...(result.current ? { current: result.current } : {}),
    };
  }
  const result = await writeAtomically(ddb, [
    conditionalUpdateWrite('transition', update),
    ...input.with,
  ]);
  if (result.ok) return { applied: true };
  return {
    applied: false,
    failed: result.failed,
    ...(result.current ? { current: result.current } : {}),
  };
}
