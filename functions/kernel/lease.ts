/**
 * Leases for outbound work: a worker claims an item for a while (owner + expiry) before calling a
 * provider, so two workers never work the same item at once, and a crashed worker's item becomes
 * claimable again only after its lease expires. Time comes from the clock seam.
 *
 * A claim or a release may carry companion writes (`with`: a counter that must move with the
 * state the lease write changes); then it is one `writeAtomically` transaction, and the answer
 * names the write whose condition failed instead of returning the item.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from './atomic.js';
import type { Clock } from './clock.js';
import {
  type ConditionalUpdateInput,
  conditionalUpdate,
  conditionalUpdateWrite,
} from './conditional-update.js';
import type { Item } from './put-once.js';
import type { Condition } from './update-expression.js';

export const LEASE_OWNER = 'leaseOwner';
export const LEASE_EXPIRES_AT = 'leaseExpiresAt';

export interface ClaimLeaseInput {
  readonly table: string;
  readonly key: Item;
  readonly owner: string;
  readonly leaseSeconds: number;
  readonly clock: Clock;
  /** An extra guard (e.g. the item's state), ANDed with the lease guard. */
  readonly also?: {
    readonly condition: string;
    readonly names?: Record<string, string>;
    readonly values?: Record<string, unknown>;
  };
  /** Attributes to set in the same write as the claim. */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Attributes to remove in the same write as the claim. */
  readonly remove?: readonly string[];
  /** Increment this numeric attribute by one with the claim (e.g. `attempts`). */
  readonly increment?: string;
}

/** A claim whose companion writes (labelled) must happen in the same transaction. */
export interface AtomicClaimLeaseInput extends ClaimLeaseInput {
  readonly with: readonly AtomicWrite[];
}

export type ClaimResult =
  | { readonly claimed: true; readonly item: Item; readonly expiresAt: number }
  | { readonly claimed: false; readonly current?: Item };

export type AtomicClaimResult =
  | { readonly claimed: true; readonly expiresAt: number }
  | {
      readonly claimed: false;
      /** `'lease'` when the claimed item's own guard failed, else the failed companion's label. */
      readonly failed: string;
      readonly current?: Item;
    };

function extraGuard(also: ClaimLeaseInput['also']): Condition[] {
  return also ? [{ expression: also.condition, names: also.names, values: also.values }] : [];
}

/**
 * Claims the item if it has no lease, an expired one, or one this owner already holds. With `with`,
 * the claim and its companions are one transaction: a `TransactionConflict` is thrown for the
 * caller's retry policy (`retryOnConflict`), as `writeAtomically` does.
 */
export function claimLease(
  ddb: DynamoDBDocumentClient,
  input: AtomicClaimLeaseInput,
): Promise<AtomicClaimResult>;
export function claimLease(
  ddb: DynamoDBDocumentClient,
  input: ClaimLeaseInput,
): Promise<ClaimResult>;
export async function claimLease(
  ddb: DynamoDBDocumentClient,
  input: ClaimLeaseInput | AtomicClaimLeaseInput,
): Promise<ClaimResult | AtomicClaimResult> {
  const now = input.clock.now();
  const expiresAt = now + input.leaseSeconds * 1000;
  const leaseFree: Condition = {
    // No outer parentheses: ANDed with `also` it gets wrapped, and DynamoDB refuses doubled ones.
    expression: 'attribute_not_exists(#exp) OR #exp <= :now OR #owner = :owner',
    names: { '#owner': LEASE_OWNER, '#exp': LEASE_EXPIRES_AT },
    values: { ':owner': input.owner, ':now': now },
  };
  const update: ConditionalUpdateInput = {
    table: input.table,
    key: input.key,
    set: { ...input.set, [LEASE_OWNER]: input.owner, [LEASE_EXPIRES_AT]: expiresAt },
    ...(input.remove && input.remove.length > 0 ? { remove: input.remove } : {}),
    ...(input.increment ? { add: { [input.increment]: 1 } } : {}),
    conditions: [leaseFree, ...extraGuard(input.also)],
  };
  if ('with' in input) {
    const result = await writeAtomically(ddb, [
      conditionalUpdateWrite('lease', update),
      ...input.with,
    ]);
    if (result.ok) return { claimed: true, expiresAt };
    return {
      claimed: false,
      failed: result.failed,
      ...(result.current ? { current: result.current } : {}),
    };
  }
  const result = await conditionalUpdate(ddb, update);
  if (result.applied) return { claimed: true, item: result.item, expiresAt };
  return { claimed: false, ...(result.current ? { current: result.current } : {}) };
}

export interface ReleaseLeaseInput {
  readonly table: string;
  readonly key: Item;
  readonly owner: string;
  /** An extra guard (e.g. the item's state), ANDed with the ownership guard. */
  readonly also?: ClaimLeaseInput['also'];
  /** Attributes to set in the same write as the release (e.g. the state the work ended in). */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Attributes to remove along with the lease. */
  readonly remove?: readonly string[];
  /**
   * Writes that must happen in the same transaction (labelled); a `TransactionConflict` is then
   * thrown for the caller's retry policy.
   */
  readonly with?: readonly AtomicWrite[];
}

/**
 * Releases a lease this owner holds (with the writes that end its work, if any); returns false when
 * someone else holds it now or an extra guard failed.
 */
export async function releaseLease(
  ddb: DynamoDBDocumentClient,
  input: ReleaseLeaseInput,
): Promise<boolean> {
  const update: ConditionalUpdateInput = {
    table: input.table,
    key: input.key,
    ...(input.set ? { set: input.set } : {}),
    remove: [...new Set([...(input.remove ?? []), LEASE_OWNER, LEASE_EXPIRES_AT])],
    conditions: [
      {
        expression: '#owner = :owner',
        names: { '#owner': LEASE_OWNER },
        values: { ':owner': input.owner },
      },
      ...extraGuard(input.also),
    ],
  };
  if (input.with && input.with.length > 0) {
    const result = await writeAtomically(ddb, [
      conditionalUpdateWrite('lease', update),
      ...input.with,
    ]);
    return result.ok;
  }
  const result = await conditionalUpdate(ddb, update);
  return result.applied;
}

/** The guard to add to a write that must only happen while this owner still holds the lease. */
export function leaseHeldBy(owner: string) {
  return {
    condition: '#leaseOwner = :leaseOwner',
    names: { '#leaseOwner': LEASE_OWNER },
    values: { ':leaseOwner': owner },
  };
}
