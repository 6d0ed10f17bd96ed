/**
 * Leases for outbound work: a worker claims an item for a while (owner + expiry) before calling a
 * provider, so two workers never work the same item at once, and a crashed worker's item becomes
 * claimable again only after its lease expires. Time comes from the clock seam.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from './clock.js';
import { conditionalUpdate } from './conditional-update.js';
import type { Item } from './put-once.js';
import type { Condition, UpdateSpec } from './update-expression.js';

export const LEASE_OWNER = 'leaseOwner';
export const LEASE_EXPIRES_AT = 'leaseExpiresAt';

export interface ClaimLeaseInput {
  readonly table: string;
  readonly key: Item;
  readonly owner: string;
  readonly leaseSeconds: number;
  readonly clock: Clock;
  /**
   * Where the lease lives: the item itself (default), or a map entry of it (e.g. `['jobs',
   * 'ai_triage']`) when one item holds several independently leased parts. `set` and `increment`
   * are then relative to that entry.
   */
  readonly at?: readonly string[];
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
  /** Further changes to the item outside the lease entry, in the same write (e.g. index keys). */
  readonly update?: UpdateSpec;
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
  const at = input.at ?? [];
  const entry = leaseEntry(at);
  const leaseFree: Condition = {
    expression: `(attribute_not_exists(${entry.prefix}#exp) OR ${entry.prefix}#exp <= :now OR ${entry.prefix}#owner = :owner)`,
    names: { ...entry.names, '#owner': LEASE_OWNER, '#exp': LEASE_EXPIRES_AT },
    values: { ':owner': input.owner, ':now': now },
  };
  const set = { ...input.set, [LEASE_OWNER]: input.owner, [LEASE_EXPIRES_AT]: expiresAt };
  const increment = input.increment ? { [input.increment]: 1 } : undefined;
  const update: UpdateSpec =
    at.length === 0
      ? {
          ...input.update,
          set: { ...input.update?.set, ...set },
          ...(increment ? { add: { ...input.update?.add, ...increment } } : {}),
        }
      : {
          ...input.update,
          within: [
            ...(input.update?.within ?? []),
            { path: at, set, ...(increment ? { increment } : {}) },
          ],
        };
  const result = await conditionalUpdate(ddb, {
    table: input.table,
    key: input.key,
    ...update,
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
  input: {
    readonly table: string;
    readonly key: Item;
    readonly owner: string;
    /** The map entry the lease lives in (see `ClaimLeaseInput.at`). */
    readonly at?: readonly string[];
  },
): Promise<boolean> {
  const at = input.at ?? [];
  const held = leaseHeldBy(input.owner, at);
  const lease = [LEASE_OWNER, LEASE_EXPIRES_AT];
  const result = await conditionalUpdate(ddb, {
    table: input.table,
    key: input.key,
    ...(at.length === 0 ? { remove: lease } : { within: [{ path: at, remove: lease }] }),
    conditions: [{ expression: held.condition, names: held.names, values: held.values }],
  });
  return result.applied;
}

/** The path prefix (`#lease0.#lease1.`) and its names for a lease in a map entry; empty for the item. */
function leaseEntry(at: readonly string[]) {
  const names: Record<string, string> = {};
  const prefix = at.map((segment, i) => {
    names[`#lease${i}`] = segment;
    return `#lease${i}.`;
  });
  return { prefix: prefix.join(''), names };
}

/**
 * The guard to add to a write that must only happen while this owner still holds the lease
 * (of the item, or of the map entry `at`).
 */
export function leaseHeldBy(owner: string, at: readonly string[] = []) {
  const entry = leaseEntry(at);
  return {
    condition: `${entry.prefix}#leaseOwner = :leaseOwner`,
    names: { ...entry.names, '#leaseOwner': LEASE_OWNER },
    values: { ':leaseOwner': owner },
  };
}
