/**
 * Folding several conversations of one person into one, safe under any concurrency:
 *
 * - **The survivor is decided by a conditional write.** The anchor key item (the lead's key for a
 *   lead, else the first key) is created with `attribute_not_exists` in the same transaction as the
 *   survivor's upsert; a loser re-reads and adopts the winner's survivor. When the anchor exists,
 *   the survivor is the live root of what it names.
 * - **No cycles.** A conversation is marked `mergedInto` in one transaction that also checks the
 *   target is not merged itself: two folds can never merge A into B and B into A, so every chain of
 *   `mergedInto` ends at one live conversation (its root) and nothing vanishes from the listing.
 * - **Messages are found by a strongly consistent read.** Each message has a membership item
 *   (`CONV#<id> / M#<messageId>`) written in its own transaction, which also requires the
 *   conversation not merged. So once the merge mark is committed, a consistent query of the
 *   membership items sees every message the merged conversation will ever hold (`gsi1` is never
 *   trusted to be fresh). Each move is one transaction, guarded on the message still being there
 *   and on the target still live (else it follows the target's root).
 * - **Key items are redirected last, each conditional on what was read**, so a retry after a crash
 *   still finds the merged conversation through them, and a concurrent redirect is never
 *   overwritten with a stale decision: the whole fold runs again on fresh reads.
 *
 * Every step is idempotent, so a crash anywhere is repaired by running the fold again.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { conditionalUpdateWrite } from '../kernel/conditional-update.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { queryItems } from '../kernel/paginate.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import {
  type ConversationItem,
  conversationIdFor,
  conversationKey,
  keyItem,
  keys,
  type MemberItem,
  memberItem,
  toConversationItem,
  toMemberItem,
} from './items.js';
import { readKeyItems } from './routing.js';

export const AFTER_CONVERSATION_REKEYED = defineFailpoint(
  'conversations.after-rekey',
  'fold: the survivor carries the target key (and lead), nothing merged or redirected yet',
);
export const AFTER_MERGE_MARKED = defineFailpoint(
  'conversations.after-merge-marked',
  'fold: an older conversation is marked mergedInto the survivor, its messages not yet moved',
);
export const AFTER_MESSAGES_MOVED = defineFailpoint(
  'conversations.after-messages-moved',
  'fold: every message is in the survivor, the key items not yet redirected',
);

export interface ConversationsStoreContext {
  readonly ddb: DynamoDBDocumentClient;
  readonly clock: Clock;
  readonly table: string;
}

export interface FoldTarget {
  readonly leadId?: string;
  readonly leadName?: string;
  readonly keys: readonly string[];
  readonly e164?: string | undefined;
}

interface Root {
  readonly conversationId: string;
  /** Merged conversations passed through on the way to the root. */
  readonly chain: readonly string[];
  readonly item?: ConversationItem;
}

async function getConversationItem(
  ctx: ConversationsStoreContext,
  conversationId: string,
): Promise<ConversationItem | undefined> {
  const item = await readItem(ctx.ddb, ctx.table, keys.conversation(conversationId));
  return item ? toConversationItem(item) : undefined;
}

/** Follows `mergedInto` to the live conversation (chains are acyclic by construction). */
export async function rootOf(
  ctx: ConversationsStoreContext,
  conversationId: string,
): Promise<Root> {
  const chain: string[] = [];
  let id = conversationId;
  for (let hop = 0; hop < 32; hop++) {
    const item = await getConversationItem(ctx, id);
    const next = item?.mergedInto;
    if (next === undefined) return { conversationId: id, chain, ...(item ? { item } : {}) };
    chain.push(id);
    id = next;
  }
  throw new Error(`conversation ${conversationId}: mergedInto chain longer than 32`);
}

const MAX_FOLD_ATTEMPTS = 10;

/**
 * Every conversation named by `keys` ends up in one: keyed `lead:` when a lead is given, else
 * whatever the first key names. Returns the survivor and the number of messages moved.
 */
export async function foldConversations(
  ctx: ConversationsStoreContext,
  tenantId: string,
  target: FoldTarget,
): Promise<{ conversationId: string; merged: number }> {
  let merged = 0;
  for (let attempt = 1; attempt <= MAX_FOLD_ATTEMPTS; attempt++) {
    const outcome = await retryOnConflict(() => tryFold(ctx, tenantId, target));
    merged += outcome.moved;
    if (outcome.kind === 'done') return { conversationId: outcome.conversationId, merged };
    // Somebody changed a key or merged a conversation under us: decide again on fresh reads.
  }
  throw new Error(`fold of ${target.keys.length} keys kept changing under us`);
}

type FoldOutcome =
  | { kind: 'done'; conversationId: string; moved: number }
  | { kind: 'again'; moved: number };

async function tryFold(
  ctx: ConversationsStoreContext,
  tenantId: string,
  target: FoldTarget,
): Promise<FoldOutcome> {
  const leadTargetKey = target.leadId
    ? conversationKey(tenantId, { leadId: target.leadId })
    : undefined;
  const anchorKey = leadTargetKey ?? target.keys[0];
  if (!anchorKey) throw new Error('nothing to fold');
  const allKeys = [...new Set([anchorKey, ...target.keys])];
  const found = await readKeyItems(ctx, allKeys);
  const roots = new Map<string, Root>();
  for (const item of found.values()) {
    if (!roots.has(item.conversationId))
      roots.set(item.conversationId, await rootOf(ctx, item.conversationId));
  }
  const rootFor = (key: string) => {
    const item = found.get(key);
    return item ? roots.get(item.conversationId) : undefined;
  };
  const anchorRoot = rootFor(anchorKey);
  const firstRoot = target.keys.map(rootFor).find((r) => r !== undefined);
  const survivorRoot = anchorRoot ?? firstRoot;
  const survivor = survivorRoot?.conversationId ?? conversationIdFor(anchorKey);
  const survivorItem = survivorRoot?.item;
  const targetKey =
    leadTargetKey ?? (survivorItem && anchorRoot ? survivorItem.conversationKey : anchorKey);
  const leadId = target.leadId ?? survivorItem?.leadId;

  // 1. The survivor carries the target key; the anchor key item, when new, decides who survives.
  const now = isoTime(ctx.clock);
  const established = await writeAtomically(ctx.ddb, [
    conditionalUpdateWrite('survivor', {
      table: ctx.table,
      key: keys.conversation(survivor),
      set: {
        ...(leadTargetKey ? { conversationKey: targetKey } : {}),
        tenantId,
        conversationId: survivor,
        gsi1pk: keys.listingOf(tenantId, survivor),
        ...(leadId ? { leadId } : {}),
        ...(target.leadName !== undefined ? { leadName: target.leadName } : {}),
      },
      setIfAbsent: {
        ...(leadTargetKey ? {} : { conversationKey: targetKey }),
        createdAt: now,
        messageCount: 0,
        gsi1sk: keys.listingSort(now, survivor),
        ...(target.e164 ? { e164: target.e164 } : {}),
      },
      conditions: [{ expression: 'attribute_not_exists(mergedInto)' }],
    }),
    ...(found.has(anchorKey)
      ? []
      : [
          {
            label: 'anchor',
            put: {
              table: ctx.table,
              item: keyItem(tenantId, anchorKey, {
                conversationId: survivor,
                conversationKey: targetKey,
                ...(leadId ? { leadId } : {}),
              }),
              condition: 'attribute_not_exists(pk)',
            },
          },
        ]),
  ]);
  if (!established.ok) return { kind: 'again', moved: 0 };
  failpoint(AFTER_CONVERSATION_REKEYED);

  // 2. Every other live conversation is marked merged into the survivor (never into a merged one).
  let moved = 0;
  for (const root of roots.values()) {
    if (root.conversationId === survivor) continue;
    const marked = await markMerged(ctx, root.conversationId, survivor);
    if (marked === 'again') return { kind: 'again', moved };
    failpoint(AFTER_MERGE_MARKED);
  }
  // 3. Every merged conversation the keys lead through gives up its messages (also those a crashed
  //    fold marked but did not finish moving).
  const drained = new Set<string>();
  for (const root of roots.values()) {
    for (const id of [...root.chain, root.conversationId]) {
      if (id === survivor || drained.has(id)) continue;
      drained.add(id);
      moved += await moveMessages(ctx, id, survivor);
    }
  }
  failpoint(AFTER_MESSAGES_MOVED);

  // 4. Key items point at the survivor, each conditional on what this fold read.
  const redirects: AtomicWrite[] = [];
  for (const key of allKeys) {
    const seen = found.get(key);
    if (!seen && key === anchorKey) continue; // created in step 1
    if (
      seen &&
      seen.conversationId === survivor &&
      seen.conversationKey === targetKey &&
      seen.leadId === leadId
    )
      continue;
    redirects.push({
      label: `key:${key}`,
      put: {
        table: ctx.table,
        item: keyItem(tenantId, key, {
          conversationId: survivor,
          conversationKey: targetKey,
          ...(leadId ? { leadId } : {}),
        }),
        ...(seen
          ? { condition: 'conversationId = :seen', values: { ':seen': seen.conversationId } }
          : { condition: 'attribute_not_exists(pk)' }),
      },
    });
  }
  if (redirects.length > 0) {
    const result = await writeAtomically(ctx.ddb, redirects);
    if (!result.ok) return { kind: 'again', moved };
  }
  return { kind: 'done', conversationId: survivor, moved };
}

/**
 * `from` → merged into `into`, in one transaction that checks `into` is live, so no cycle can form.
 * `done` when `from` is (now or already) merged into `into`; `again` when either moved meanwhile.
 */
async function markMerged(
  ctx: ConversationsStoreContext,
  from: string,
  into: string,
): Promise<'done' | 'again'> {
  const result = await writeAtomically(ctx.ddb, [
    conditionalUpdateWrite('from', {
      table: ctx.table,
      key: keys.conversation(from),
      set: { mergedInto: into },
      remove: ['gsi1pk', 'gsi1sk'],
      conditions: [{ expression: 'attribute_exists(pk) AND attribute_not_exists(mergedInto)' }],
    }),
    {
      label: 'into',
      check: {
        table: ctx.table,
        key: keys.conversation(into),
        condition: 'attribute_exists(pk) AND attribute_not_exists(mergedInto)',
      },
    },
  ]);
  if (result.ok) return 'done';
  const current = result.current ? toConversationItem(result.current) : undefined;
  if (result.failed === 'from' && current?.mergedInto === into) return 'done';
  return 'again';
}

/**
 * Moves every message of the merged conversation `from` into `into` (or, if `into` was merged
 * meanwhile, into its root). The membership items are read strongly consistently on the base
 * table. Returns the number moved.
 */
export async function moveMessages(
  ctx: ConversationsStoreContext,
  from: string,
  into: string,
): Promise<number> {
  let moved = 0;
  let target = into;
  const members = keys.members(from);
  const items = queryItems(ctx.ddb, {
    TableName: ctx.table,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :m)',
    ExpressionAttributeValues: { ':pk': members.pk, ':m': members.skPrefix },
    ConsistentRead: true,
  });
  for await (const item of items) {
    const member = toMemberItem(item);
    for (let hop = 0; ; hop++) {
      const result = await retryOnConflict(() =>
        writeAtomically(ctx.ddb, moveWrites(ctx.table, member, from, target)),
      );
      if (result.ok) {
        moved += 1;
        break;
      }
      if (result.failed === 'into' && hop < 32) {
        target = (await rootOf(ctx, target)).conversationId;
        continue;
      }
      // The message is no longer in `from` (moved by a concurrent fold): nothing to do.
      break;
    }
  }
  return moved;
}

function moveWrites(table: string, member: MemberItem, from: string, into: string): AtomicWrite[] {
  const { messageId } = member;
  return [
    conditionalUpdateWrite('message', {
      table,
      key: keys.message(messageId),
      set: { conversationId: into, gsi1pk: keys.conversationMessages(into) },
      conditions: [{ expression: 'conversationId = :from', values: { ':from': from } }],
    }),
    { label: 'member-from', delete: { table, key: keys.member(from, messageId) } },
    {
      label: 'member-into',
      put: { table, item: memberItem({ ...member, conversationId: into }) },
    },
    conditionalUpdateWrite('from', {
      table,
      key: keys.conversation(from),
      add: { messageCount: -1 },
    }),
    conditionalUpdateWrite('into', {
      table,
      key: keys.conversation(into),
      add: { messageCount: 1 },
      setIfAbsent: { lastMessageAt: member.createdAt },
      conditions: [{ expression: 'attribute_exists(pk) AND attribute_not_exists(mergedInto)' }],
    }),
  ];
}

/**
 * Folds the conversations held under `aliases` into the phone's, for every alias whose key item
 * still names its own alias conversation. Called whenever a payload links an alias to a phone,
 * whichever direction the message went, and by `lead_match`.
 */
export async function foldLinkedAliases(
  ctx: ConversationsStoreContext,
  tenantId: string,
  e164: string,
  aliases: readonly string[],
): Promise<number> {
  if (aliases.length === 0) return 0;
  const phoneKey = conversationKey(tenantId, { e164 });
  const aliasKeys = aliases.map((alias) => conversationKey(tenantId, { alias }));
  const found = await readKeyItems(ctx, aliasKeys);
  let merged = 0;
  for (const [key, item] of found) {
    if (item.conversationKey !== key) continue; // already folded into a phone's or lead's
    merged += (await foldConversations(ctx, tenantId, { keys: [phoneKey, key], e164 })).merged;
  }
  return merged;
}
