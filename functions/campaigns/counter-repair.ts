/**
 * Counter repair (`npx onceflow reconcile counters --execute`): sets a shard's counters to a recount
 * of its recipients, for drift the `CounterDrift` alarm reported (a bug found and fixed, or counter
 * items edited by hand). The reconciliation schedule itself never repairs (`reconcile-counters.ts`).
 *
 * Why the result is exact even while recipients move: every recipient transition moves its shard's
 * counters in the same transaction. So the shard's counter parts are read first, the recipients
 * recounted (strongly consistent queries), and the repair is one transaction that writes the counts
 * only if every counter part still holds exactly what was read. If it does, no recipient moved
 * between that read and the write, so the recount is the truth for that whole span; if a part
 * moved, the transaction fails and the shard is read, recounted and tried again.
 */
import { type DynamoDBDocumentClient, GetCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { conditionalUpdateWrite } from '../kernel/conditional-update.js';
import { retryOnConflict } from '../kernel/retry.js';
import {
  COUNTER_SPREAD,
  counterKey,
  emptyTotals,
  RECIPIENT_STATUSES,
  type RecipientStatus,
  recipientPartition,
  SHARDS,
  type Totals,
} from './model.js';

export interface CounterRepairDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly table: string;
}

const FIELDS = ['recipients', ...RECIPIENT_STATUSES] as const;

/** Attempts per shard before giving up on a shard that keeps moving. */
export const MAX_REPAIR_ATTEMPTS = 10;

export interface ShardRepair {
  readonly shard: number;
  /** Sum of |counter − recount| over the fields, before the repair. */
  readonly drift: number;
  readonly repaired: boolean;
  /** Reads and recounts it took (more than 1: the shard moved while being repaired). */
  readonly attempts: number;
}

export interface CampaignRepair {
  readonly tenantId: string;
  readonly campaignId: string;
  readonly drift: number;
  readonly shards: readonly ShardRepair[];
  /** Shards that kept moving for `MAX_REPAIR_ATTEMPTS` tries: run it again when quieter. */
  readonly unsettledShards: number;
}

async function readParts(
  deps: CounterRepairDeps,
  tenantId: string,
  campaignId: string,
  shard: number,
) {
  return Promise.all(
    Array.from({ length: COUNTER_SPREAD }, async (_, part) => {
      const out = await deps.ddb.send(
        new GetCommand({
          TableName: deps.table,
          Key: counterKey(tenantId, campaignId, shard, part),
          ConsistentRead: true,
        }),
      );
      const totals = emptyTotals();
      for (const field of FIELDS) {
        const value = out.Item?.[field];
        if (typeof value === 'number') totals[field] = value;
      }
      return totals;
    }),
  );
}

export async function recountShard(
  deps: CounterRepairDeps,
  tenantId: string,
  campaignId: string,
  shard: number,
): Promise<Totals> {
  const counts = emptyTotals();
  const pages = paginateQuery(
    { client: deps.ddb },
    {
      TableName: deps.table,
      KeyConditionExpression: 'pk = :pk',
      ProjectionExpression: '#st',
      ExpressionAttributeNames: { '#st': 'status' },
      ExpressionAttributeValues: { ':pk': recipientPartition(tenantId, campaignId, shard) },
      ConsistentRead: true,
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const status = item.status as RecipientStatus;
      if (RECIPIENT_STATUSES.includes(status)) counts[status] += 1;
      counts.recipients += 1;
    }
  }
  return counts;
}

function sum(parts: readonly Totals[]): Totals {
  const total = emptyTotals();
  for (const part of parts) for (const field of FIELDS) total[field] += part[field];
  return total;
}

function difference(a: Totals, b: Totals): number {
  return FIELDS.reduce((n, field) => n + Math.abs(a[field] - b[field]), 0);
}

/**
 * One counter part set to `next`, on condition that it still holds `seen` (a field never written
 * reads as 0, so 0 also accepts a missing attribute).
 */
function setPartIfUnchanged(
  table: string,
  key: ReturnType<typeof counterKey>,
  seen: Totals,
  next: Totals,
  part: number,
): AtomicWrite {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const guards = FIELDS.map((field, i) => {
    names[`#f${i}`] = field;
    values[`:seen${i}`] = seen[field];
    return seen[field] === 0
      ? `(attribute_not_exists(#f${i}) OR #f${i} = :seen${i})`
      : `#f${i} = :seen${i}`;
  });
  return conditionalUpdateWrite(`part#${part}`, {
    table,
    key,
    set: Object.fromEntries(FIELDS.map((field) => [field, next[field]])),
    conditions: [{ expression: guards.join(' AND '), names, values }],
  });
}

/**
 * Recounts one shard and, with `execute`, sets its counters to the recount (all of it on part 0,
 * the other parts to 0), retried while the shard keeps moving.
 */
export async function repairShard(
  deps: CounterRepairDeps,
  tenantId: string,
  campaignId: string,
  shard: number,
  execute: boolean,
): Promise<ShardRepair> {
  let firstDrift: number | undefined;
  for (let attempt = 1; attempt <= MAX_REPAIR_ATTEMPTS; attempt++) {
    const parts = await readParts(deps, tenantId, campaignId, shard);
    const recount = await recountShard(deps, tenantId, campaignId, shard);
    const drift = difference(sum(parts), recount);
    firstDrift ??= drift;
    if (drift === 0)
      return { shard, drift: firstDrift, repaired: firstDrift > 0, attempts: attempt };
    if (!execute) {
      // Dry run: a shard that moved between the read and the recount would show false drift;
      // read again and report only drift that holds still.
      const again = await readParts(deps, tenantId, campaignId, shard);
      if (difference(sum(again), sum(parts)) === 0) {
        return { shard, drift, repaired: false, attempts: attempt };
      }
      firstDrift = undefined;
      continue;
    }
    const writes = parts.map((seen, part) =>
      setPartIfUnchanged(
        deps.table,
        counterKey(tenantId, campaignId, shard, part),
        seen,
        part === 0 ? recount : emptyTotals(),
        part,
      ),
    );
    const result = await retryOnConflict(() => writeAtomically(deps.ddb, writes));
    if (result.ok) return { shard, drift: firstDrift, repaired: true, attempts: attempt };
    // A counter part moved since it was read: a recipient moved; read and recount again.
  }
  return { shard, drift: firstDrift ?? 0, repaired: false, attempts: MAX_REPAIR_ATTEMPTS };
}

export async function repairCampaignCounters(
  deps: CounterRepairDeps,
  campaign: { readonly tenantId: string; readonly campaignId: string },
  execute: boolean,
): Promise<CampaignRepair> {
  const shards: ShardRepair[] = [];
  for (let shard = 0; shard < SHARDS; shard += 8) {
    const batch = Array.from({ length: Math.min(8, SHARDS - shard) }, (_, i) => shard + i);
    shards.push(
      ...(await Promise.all(
        batch.map((s) => repairShard(deps, campaign.tenantId, campaign.campaignId, s, execute)),
      )),
    );
  }
  const drifting = shards.filter((s) => s.drift > 0);
  return {
    tenantId: campaign.tenantId,
    campaignId: campaign.campaignId,
    drift: drifting.reduce((n, s) => n + s.drift, 0),
    shards: drifting,
    unsettledShards: execute ? drifting.filter((s) => !s.repaired).length : 0,
  };
}
