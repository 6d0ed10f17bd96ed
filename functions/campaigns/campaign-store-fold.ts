/**
 * The folded counts' adapter: one `CG#…#<group> / FOLD` item per fold group (`SHARDS_PER_GROUP`
 * shards), moved only by the fold (`counter-fold.ts`) with one conditional `UpdateItem` per group
 * per batch: `ADD` the deltas of every shard of the group the batch touches, `SET` each such
 * shard's sequence number (`q<shard>`), on condition that each is still below that shard's first
 * record in the batch (or, after a refusal, still what the refusal showed). The guards and the
 * deltas are one request, so no crash can leave one without the other. Each shard keeps its own
 * guard because only a shard's records (one partition key, `CR#…#<shard>`) come in order through
 * one stream shard; a group's shards may come through different stream shards at once, and their
 * writes then touch different guards of one item, which DynamoDB serialises.
 *
 * Moving in a shard folded before the groups (`CF#…#<shard>`, `foldSeq`): a shard whose group item
 * holds no `q<shard>` is refused by the first write's condition; the refusal reads the shard's old
 * item (strongly consistent), and the write that follows adds its counts, folds only the records
 * past its `foldSeq`, and sets `q<shard>` on condition that it is still absent. That happens once
 * per shard (the condition), and readers add an old item's counts only while its shard is not in
 * its group (`groups`), so the totals neither lose nor double it. A campaign created since the
 * groups were born with it (`bornFoldGroupItem`: every shard held below any record) never pays it:
 * its first write of each shard passes as every later one does.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from '../kernel/batch-get.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import type { Condition } from '../kernel/update-expression.js';
import type { FoldedGroup } from './campaign-store.js';
import type { FoldEntry, FoldedCounters } from './counter-fold.js';
import {
  type CampaignFoldGroup,
  FOLD_GROUPS,
  type FoldedGroupItem,
  foldSeqAttribute,
  foldSeqKey,
  keys,
  parseFoldedCounter,
  parseFoldedGroup,
  shardsOfGroup,
} from './items.js';
import { emptyTotals, sumTotals, type Totals } from './model.js';

/**
 * Stream sequence numbers as the fold wrote them before the groups: decimal, padded to the API's
 * 40 digits so that string order is number order (`CF#…` items' `foldSeq`).
 */
export function foldSeqOf(sequenceNumber: string): string {
  return sequenceNumber.padStart(40, '0');
}

/** Refusals in a row before a group's fold gives up (each means another reader moved it). */
const MAX_FOLD_TRIES = 5;

export class FoldedCounterMismatchError extends Error {
  override name = 'FoldedCounterMismatchError';
}

/** How one shard's part of a group write is guarded. */
type ShardGuard =
  /** The first try: nothing of this batch folded yet (`q` below our first record). */
  | { readonly kind: 'below'; readonly first: string }
  /** After a refusal: `q` still what it showed. */
  | { readonly kind: 'seen'; readonly seen: string }
  /** After a refusal that showed no `q`: still none (the shard moves in with this write). */
  | { readonly kind: 'absent' };

interface ShardPart {
  entries: readonly FoldEntry[];
  guard: ShardGuard;
  /** An old per-shard item's counts moved in with this write (its first into the group). */
  movedIn?: Totals;
  /** The sequence number `q` is set to when no entry is left past the old item's. */
  floor?: string;
}

/** A shard's old item (before the groups), as the move-in needs it. */
interface OldShard {
  readonly totals: Totals;
  readonly foldSeq?: string;
}

export class DynamoFoldedCounters implements FoldedCounters {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async fold(
    group: CampaignFoldGroup,
    byShard: ReadonlyMap<number, readonly FoldEntry[]>,
  ): Promise<number> {
    const key = keys.foldedGroup(group.tenantId, group.campaignId, group.group);
    const parts = new Map<number, ShardPart>();
    for (const [shard, entries] of byShard) {
      const first = entries[0];
      if (first) {
        parts.set(shard, {
          entries,
          guard: { kind: 'below', first: foldSeqKey(first.sequenceNumber) },
        });
      }
    }
    let folded = 0;
    for (let attempt = 1; attempt <= MAX_FOLD_TRIES; attempt++) {
      if (parts.size === 0) return folded;
      const add: Record<string, number> = {};
      const set: Record<string, string> = {};
      const conditions: Condition[] = [];
      for (const [shard, part] of parts) {
        addInto(add, sumDeltas(part.entries));
        if (part.movedIn) addInto(add, part.movedIn);
        const last = part.entries.at(-1);
        const seq = last ? foldSeqKey(last.sequenceNumber) : part.floor;
        if (seq !== undefined) set[foldSeqAttribute(shard)] = seq;
        conditions.push(shardCondition(shard, part.guard));
      }
      const result = await conditionalUpdate(this.ddb, {
        table: this.table,
        key,
        add: Object.fromEntries(Object.entries(add).filter(([, n]) => n !== 0)),
        set,
        conditions,
      });
      if (result.applied) {
        for (const part of parts.values()) folded += part.entries.length;
        return folded;
      }
      // Part (or all) of the batch was folded before (a redelivery, a second reader), or a shard
      // is not in its group yet: keep, per shard, only what lies past the sequence number the
      // refusal showed (or the old item's), and write on condition that it still holds.
      const current: FoldedGroupItem | undefined = result.current
        ? parseFoldedGroup(result.current)
        : undefined;
      const absent = [...parts.keys()].filter((shard) => !current?.seqs.has(shard));
      const old = await readOldShards(
        this.ddb,
        this.table,
        group.tenantId,
        group.campaignId,
        absent,
      );
      for (const [shard, part] of [...parts]) {
        const seen = current?.seqs.get(shard);
        if (seen !== undefined) {
          const entries = part.entries.filter((e) => foldSeqKey(e.sequenceNumber) > seen);
          if (entries.length === 0) parts.delete(shard);
          else parts.set(shard, { entries, guard: { kind: 'seen', seen } });
          continue;
        }
        const before = old.get(shard);
        const oldSeq = before?.foldSeq;
        const floor = oldSeq === undefined ? undefined : foldSeqKey(oldSeq);
        const entries =
          floor === undefined
            ? part.entries
            : part.entries.filter((e) => foldSeqKey(e.sequenceNumber) > floor);
        parts.set(shard, {
          entries,
          guard: { kind: 'absent' },
          ...(before ? { movedIn: before.totals } : {}),
          // With no old item and no entry there is nothing to write for the shard (not reached:
          // a shard is in `parts` because the batch has entries of it).
          ...(floor !== undefined ? { floor } : {}),
        });
      }
    }
    throw new FoldedCounterMismatchError(
      `group ${group.group} of a campaign kept moving under the fold`,
    );
  }

  /** Each group's folded counts as readers see them (index = group): `readFoldGroups`. */
  async groups(tenantId: string, campaignId: string): Promise<Totals[]> {
    const all = Array.from({ length: FOLD_GROUPS }, (_, g) => g);
    return (await readFoldGroups(this.ddb, this.table, tenantId, campaignId, all)).map(
      (g) => g.totals,
    );
  }
}

/**
 * Fold groups as they stand, each with the old per-shard items of its shards not moved in yet:
 * one strongly consistent `BatchGetItem` of the groups' keys, then, only for shards a group does not
 * hold, one of their old keys. A campaign created since the groups were born with it holds every
 * shard (`bornFoldGroupItem`), so its read is the group keys alone (2 for a whole campaign, where
 * reading every old key beside them was 34); one created before reads the old keys of the shards
 * not moved in yet. The totals add an old item's counts only for a shard its group does not hold
 * (`groupTotals`); `oldSeqs` are those shards' old sequence numbers (a repair moves them in at that
 * point, `campaign-store-counters.ts`).
 *
 * The two reads are not one snapshot, and need not be: an old item is never written again, and a
 * shard the group did not hold at the first read is counted from its old item whether or not the
 * fold moved it in meanwhile (the counts are the same either way but for records folded since,
 * which any read may miss by an instant).
 */
export async function readFoldGroups(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  campaignId: string,
  groups: readonly number[],
): Promise<FoldedGroup[]> {
  const items = new Map<number, FoldedGroupItem>();
  for (const raw of await batchGetAll(
    ddb,
    table,
    groups.map((g) => keys.foldedGroup(tenantId, campaignId, g)),
  )) {
    const item = parseFoldedGroup(raw);
    items.set(item.group, item);
  }
  const notHeld = groups.flatMap((g) =>
    shardsOfGroup(g).filter((shard) => !items.get(g)?.seqs.has(shard)),
  );
  const old = await readOldShards(ddb, table, tenantId, campaignId, notHeld);
  return groups.map((group) => {
    const item = items.get(group);
    const oldSeqs = new Map<number, string>();
    for (const shard of shardsOfGroup(group)) {
      const foldSeq = old.get(shard)?.foldSeq;
      if (!item?.seqs.has(shard) && foldSeq !== undefined) oldSeqs.set(shard, foldSeqKey(foldSeq));
    }
    return {
      totals: groupTotals(group, item, (shard) => old.get(shard)?.totals),
      ...(item ? { item } : {}),
      oldSeqs,
    };
  });
}

/**
 * The per-shard items of before the groups of `shards` that exist, by shard (one strongly
 * consistent `BatchGetItem`; none when `shards` is empty): what the fold's move-in and readers add
 * for a shard its group does not hold.
 */
async function readOldShards(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  campaignId: string,
  shards: readonly number[],
): Promise<Map<number, OldShard>> {
  const found = new Map<number, OldShard>();
  if (shards.length === 0) return found;
  const raws = await batchGetAll(
    ddb,
    table,
    shards.map((shard) => keys.foldedCounter(tenantId, campaignId, shard)),
  );
  for (const raw of raws) {
    const { shard, totals, foldSeq } = parseFoldedCounter(raw);
    found.set(shard, { totals, ...(foldSeq !== undefined ? { foldSeq } : {}) });
  }
  return found;
}

/**
 * A group's counts as readers see them: the item's, plus the old per-shard counts of each shard it
 * does not hold yet (moved in by the fold's first write of that shard).
 */
function groupTotals(
  group: number,
  item: FoldedGroupItem | undefined,
  oldShard: (shard: number) => Totals | undefined,
): Totals {
  const parts = [item?.totals ?? emptyTotals()];
  for (const shard of shardsOfGroup(group)) {
    if (item?.seqs.has(shard)) continue;
    const old = oldShard(shard);
    if (old) parts.push(old);
  }
  return sumTotals(parts);
}

function shardCondition(shard: number, guard: ShardGuard): Condition {
  const names = { [`#q${shard}`]: foldSeqAttribute(shard) };
  switch (guard.kind) {
    case 'below':
      // Absent fails this too (a comparison with a missing attribute is false): the refusal then
      // moves the shard in.
      return {
        expression: `#q${shard} < :q${shard}`,
        names,
        values: { [`:q${shard}`]: guard.first },
      };
    case 'seen':
      return {
        expression: `#q${shard} = :q${shard}`,
        names,
        values: { [`:q${shard}`]: guard.seen },
      };
    case 'absent':
      return { expression: `attribute_not_exists(#q${shard})`, names };
  }
}

function addInto(
  sum: Record<string, number>,
  deltas: Readonly<Record<string, number | undefined>>,
) {
  for (const [field, n] of Object.entries(deltas)) sum[field] = (sum[field] ?? 0) + (n ?? 0);
}

function sumDeltas(entries: readonly FoldEntry[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const entry of entries) addInto(sum, entry.deltas);
  return sum;
}
