/**
 * Leases for outbound work: a worker claims an item for a while (owner + expiry) before calling a
 * provider, so two workers never work the same item at once, and a crashed worker's item becomes
 * claimable again only after its lease expires. Time comes from the clock seam.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Clock } from './clock.js';
import type { Item } from './put-once.js';

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
  const names: Record<string, string> = {
    '#owner': LEASE_OWNER,
    '#exp': LEASE_EXPIRES_AT,
    ...input.also?.names,
  };
  const values: Record<string, unknown> = {
    ':owner': input.owner,
    ':exp': expiresAt,
    ':now': now,
    ...input.also?.values,
  };
  const sets = ['#owner = :owner', '#exp = :exp'];
  Object.entries(input.set ?? {}).forEach(([attr, value], i) => {
    names[`#s${i}`] = attr;
    values[`:s${i}`] = value;
    sets.push(`#s${i} = :s${i}`);
  });
  if (input.increment) {
    names['#inc'] = input.increment;
    values[':zero'] = 0;
    values[':one'] = 1;
    sets.push('#inc = if_not_exists(#inc, :zero) + :one');
  }
  const leaseFree = '(attribute_not_exists(#exp) OR #exp <= :now OR #owner = :owner)';
  try {
    const out = await ddb.send(
      new UpdateCommand({
        TableName: input.table,
        Key: input.key,
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: input.also ? `${leaseFree} AND (${input.also.condition})` : leaseFree,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { claimed: true, item: out.Attributes ?? {}, expiresAt };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return {
        claimed: false,
        ...(error.Item ? { current: unmarshall(error.Item) } : {}),
      };
    }
    throw error;
  }
}

/** Releases a lease this owner holds; returns false when someone else holds it now. */
export async function releaseLease(
  ddb: DynamoDBDocumentClient,
  input: { readonly table: string; readonly key: Item; readonly owner: string },
): Promise<boolean> {
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: input.table,
        Key: input.key,
        UpdateExpression: 'REMOVE #owner, #exp',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: {
          '#owner': LEASE_OWNER,
          '#exp': LEASE_EXPIRES_AT,
        },
        ExpressionAttributeValues: { ':owner': input.owner },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** The guard to add to a write that must only happen while this owner still holds the lease. */
export function leaseHeldBy(owner: string) {
  return {
    condition: '#leaseOwner = :leaseOwner',
    names: { '#leaseOwner': LEASE_OWNER },
    values: { ':leaseOwner': owner },
  };
}
