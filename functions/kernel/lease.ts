/**
 * Leases for outbound work: a worker claims an item for a while (owner + expiry) before calling a
 * provider, so two workers never work the same item at once, and a crashed worker's item becomes
 * claimable again only after its lease expires. Time comes from the clock seam.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from './clock.js';
import { conditionalUpdate } from './conditional-update.js';
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
  /** Increment this numeric attribute by one with the claim (e.g. `attempts`). */
  readonly increment?: string;
}

export type ClaimResult =
  | { readonly claimed: true; readonly item: Item; readonly expiresAt: number }
  | { readonly claimed: false; readonly current?: Item };

/** Claims the item if it has no lease, an expired one, or one this owner already holds. */
export async function claimLease(
  ddb: DynamoDBDocumentClient,
  input: ClaimLeaseInput,
): Promise<ClaimResult> {
  const now = input.clock.now();
  const expiresAt = now + input.leaseSeconds * 1000;
  const leaseFree: Condition = {
    expression: '(attribute_not_exists(#exp) OR #exp <= :now OR #owner = :owner)',
    names: { '#owner': LEASE_OWNER, '#exp': LEASE_EXPIRES_AT },
    values: { ':owner': input.owner, ':now': now },
  };
  const result = await conditionalUpdate(ddb, {
    table: input.table,
    key: input.key,
    set: { ...input.set, [LEASE_OWNER]: input.owner, [LEASE_EXPIRES_AT]: expiresAt },
    ...(input.increment ? { add: { [input.increment]: 1 } } : {}),
    conditions: [
      leaseFree,
      ...(input.also
        ? [{ expression: input.also.condition, names: input.also.names, values: input.also.values }]
        : []),
    ],
  });
  if (result.applied) return { claimed: true, item: result.item, expiresAt };
  return { claimed: false, ...(result.current ? { current: result.current } : {}) };
}

/** Releases a lease this owner holds; returns false when someone else holds it now. */
export async function releaseLease(
  ddb: DynamoDBDocumentClient,
  input: { readonly table: string; readonly key: Item; readonly owner: string },
): Promise<boolean> {
  const result = await conditionalUpdate(ddb, {
    table: input.table,
    key: input.key,
    remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
    conditions: [
      {
        expression: '#owner = :owner',
        names: { '#owner': LEASE_OWNER },
        values: { ':owner': input.owner },
      },
    ],
  });
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
