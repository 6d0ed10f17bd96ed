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
import type { AtomicWrite } from './atomic.js';
import type { Clock } from './clock.js';
import { conditionalUpdateWith } from './conditional-update.js';
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
  /**
   * Several map entries leased together, instead of `at` (e.g. every job of a message one ring
   * names): one write whose condition requires each entry's lease to be free (or this owner's); all
   * take the same owner and expiry, and `set`, `remove` and `increment` apply to each.
   */
  readonly atEach?: readonly (readonly string[])[];
  /** An extra guard (e.g. the item's state), ANDed with the lease guard. */
  readonly also?: Condition;
  /** Attributes to set in the same write as the claim. */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Attributes to remove in the same write as the claim. */
  readonly remove?: readonly string[];
  /** Increment this numeric attribute by one with the claim (e.g. `attempts`). */
  readonly increment?: string;
  /** Further changes to the item outside the lease entry, in the same write (e.g. index keys). */
  readonly update?: UpdateSpec;
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
  const entries = input.atEach ?? [input.at ?? []];
  if (entries.length === 0) throw new Error('a lease needs at least one entry');
  if (entries.length > 1 && entries.some((at) => at.length === 0))
    throw new Error('several leases live in map entries, never on the item itself');
  const leaseFree = entries.map((at, i): Condition => {
    const entry = leaseEntry(at, entries.length > 1 ? i : undefined);
    return {
      // No outer parentheses: ANDed with other conditions the builder wraps each one once.
      expression: `attribute_not_exists(${entry.prefix}#exp) OR ${entry.prefix}#exp <= :now OR ${entry.prefix}#owner = :owner`,
      names: { ...entry.names, '#owner': LEASE_OWNER, '#exp': LEASE_EXPIRES_AT },
      values: { ':owner': input.owner, ':now': now },
    };
  });
  const set = { ...input.set, [LEASE_OWNER]: input.owner, [LEASE_EXPIRES_AT]: expiresAt };
  const increment = input.increment ? { [input.increment]: 1 } : undefined;
  const removed = input.remove && input.remove.length > 0 ? input.remove : undefined;
  const spec: UpdateSpec =
    entries.length === 1 && entries[0]?.length === 0
      ? {
          ...input.update,
          set: { ...input.update?.set, ...set },
          ...(removed ? { remove: [...(input.update?.remove ?? []), ...removed] } : {}),
          ...(increment ? { add: { ...input.update?.add, ...increment } } : {}),
        }
      : {
          ...input.update,
          within: [
            ...(input.update?.within ?? []),
            ...entries.map((path) => ({
              path,
              set,
              ...(increment ? { increment } : {}),
              ...(removed ? { remove: removed } : {}),
            })),
          ],
        };
  const result = await conditionalUpdateWith(ddb, {
    label: 'lease',
    table: input.table,
    key: input.key,
    ...spec,
    conditions: [...leaseFree, ...(input.also ? [input.also] : [])],
    ...('with' in input ? { with: input.with } : {}),
  });
  if ('with' in input) {
    if (result.applied) return { claimed: true, expiresAt };
    const current = result.current ? { current: result.current } : {};
    return { claimed: false, failed: result.failed, ...current };
  }
  if (result.applied && result.item) return { claimed: true, item: result.item, expiresAt };
  return {
    claimed: false,
    ...(!result.applied && result.current ? { current: result.current } : {}),
  };
}

export interface ReleaseLeaseInput {
  readonly table: string;
  readonly key: Item;
  readonly owner: string;
  /** An extra guard (e.g. the item's state), ANDed with the ownership guard. */
  readonly also?: Condition;
  /** Attributes to set in the same write as the release (e.g. the state the work ended in). */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Attributes to remove along with the lease. */
  readonly remove?: readonly string[];
  /** The map entry the lease lives in (see `ClaimLeaseInput.at`). */
  readonly at?: readonly string[];
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
  const at = input.at ?? [];
  const held = leaseHeldBy(input.owner, at);
  const lease = [LEASE_OWNER, LEASE_EXPIRES_AT];
  const removed = input.remove ?? [];
  const spec: UpdateSpec =
    at.length === 0
      ? { ...(input.set ? { set: input.set } : {}), remove: [...new Set([...removed, ...lease])] }
      : {
          ...(input.set ? { set: input.set } : {}),
          ...(removed.length > 0 ? { remove: removed } : {}),
          within: [{ path: at, remove: lease }],
        };
  const result = await conditionalUpdateWith(ddb, {
    label: 'lease',
    table: input.table,
    key: input.key,
    ...spec,
    conditions: [held, ...(input.also ? [input.also] : [])],
    ...(input.with ? { with: input.with } : {}),
  });
  return result.applied;
}

/**
 * The path prefix (`#lease0.#lease1.`) and its names for a lease in a map entry; empty for the item.
 * `nth` numbers the entries of a write that names several (`#lease0_0.`, `#lease1_0.`), so their
 * placeholders never clash.
 */
function leaseEntry(at: readonly string[], nth?: number) {
  const names: Record<string, string> = {};
  const tag = nth === undefined ? '' : `_${nth}`;
  const prefix = at.map((segment, i) => {
    names[`#lease${i}${tag}`] = segment;
    return `#lease${i}${tag}.`;
  });
  return { prefix: prefix.join(''), names };
}

/**
 * The guard to add to a write that must only happen while this owner still holds the lease
 * (of the item, or of the map entry `at`).
 */
export function leaseHeldBy(owner: string, at: readonly string[] = []): Condition {
  const entry = leaseEntry(at);
  return {
    expression: `${entry.prefix}#leaseOwner = :leaseOwner`,
    names: { ...entry.names, '#leaseOwner': LEASE_OWNER },
    values: { ':leaseOwner': owner },
  };
}

/** `leaseHeldBy` for several map entries at once (as `atEach` claimed them): this owner holds each. */
export function leaseHeldByEach(owner: string, entries: readonly (readonly string[])[]): Condition {
  if (entries.length === 0) throw new Error('a lease guard needs at least one entry');
  if (entries.length === 1) return leaseHeldBy(owner, entries[0]);
  const names: Record<string, string> = { '#leaseOwner': LEASE_OWNER };
  const guards = entries.map((at, i) => {
    if (at.length === 0) throw new Error('several leases live in map entries');
    const entry = leaseEntry(at, i);
    Object.assign(names, entry.names);
    return `${entry.prefix}#leaseOwner = :leaseOwner`;
  });
  return { expression: guards.join(' AND '), names, values: { ':leaseOwner': owner } };
}
