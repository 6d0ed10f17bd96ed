/**
 * Conversations: one per person per tenant, found by key, never by a query.
 *
 * Items in the `inbound` table:
 * - `CKEY#<conversationKey> / CKEY` → `conversationId`: the uniqueness item of a conversation key
 *   (`lead:{tenant}:{leadId}`, `phone:{tenant}:{e164}`, or `alias:{tenant}:{lid|bsuid}` for a person
 *   seen only under an unlinked WhatsApp alias). Created with `attribute_not_exists` in the same
 *   transaction as the first message. A phone attached to a lead keeps its key item, pointing at
 *   the lead's conversation, so its later messages land there.
 * - `CONV#<conversationId> / CONV`: the conversation (counters, display fields). Listed per tenant
 *   by recency on `gsi1` (`TCONV#<tenant>`, `<lastMessageAt>#<id>`). A merged conversation keeps
 *   `mergedInto` and leaves the listing.
 * - `LINK#<tenant>#<alias> / LINK` → `e164`: an `@lid` or business-scoped user id seen beside a phone.
 * - `LEAD#<tenant>#<leadId> / LEAD` and `LEADPHONE#<tenant>#<e164> / LEADPHONE` → `leadId`.
 */
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { InvalidRequestError } from '../kernel/errors.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { formatPhone } from '../kernel/phone.js';
import { retryOnConflict } from '../kernel/retry.js';
import { sha256Hex } from '../kernel/secrets.js';
import { conversationKey, displayNameFor, type PersonIdentity } from './identity.js';

export const AFTER_LEAD_SAVED = defineFailpoint(
  'leads.after-lead-saved',
  'PUT /v1/leads: the lead and its phone index are written, its conversations not yet re-keyed',
);
export const AFTER_CONVERSATION_REKEYED = defineFailpoint(
  'conversations.after-rekey',
  'attach/merge: the surviving conversation carries the lead, the phone key items not yet redirected',
);
export const AFTER_KEYS_REDIRECTED = defineFailpoint(
  'conversations.after-keys-redirected',
  'attach/merge: phone key items point at the survivor, older conversations not yet merged',
);

export const ckey = (key: string) => ({ pk: `CKEY#${key}`, sk: 'CKEY' });
export const convKey = (conversationId: string) => ({ pk: `CONV#${conversationId}`, sk: 'CONV' });
export const linkKey = (tenantId: string, alias: string) => ({
  pk: `LINK#${tenantId}#${alias}`,
  sk: 'LINK',
});
export const leadKey = (tenantId: string, leadId: string) => ({
  pk: `LEAD#${tenantId}#${leadId}`,
  sk: 'LEAD',
});
export const leadPhoneKey = (tenantId: string, e164: string) => ({
  pk: `LEADPHONE#${tenantId}#${e164}`,
  sk: 'LEADPHONE',
});
export const tenantConversationsPk = (tenantId: string) => `TCONV#${tenantId}`;
export const conversationMessagesPk = (conversationId: string) => `CMSG#${conversationId}`;

/** Deterministic: the same key always names the same conversation id. */
export function conversationIdFor(key: string): string {
  return `c_${sha256Hex(key).slice(0, 32)}`;
}

export interface Route {
  /** The key the person's messages are filed under (`phone:` or `alias:`). */
  readonly routeKey: string;
  readonly e164?: string;
  /** Aliases of the payload already linked to `e164` (their link items need no rewrite). */
  readonly linked?: ReadonlySet<string>;
  /** The conversation the key item names, when it exists. */
  readonly existing?: {
    readonly conversationId: string;
    readonly conversationKey: string;
    readonly leadId?: string;
  };
}

/**
 * Where a person's messages go. An alias without a phone in the payload is looked up in the link
 * items (one batch read with the alias's own key item); then the phone's key item is read, in one
 * batch with the link items of the payload's aliases when it shows any (so links already in place
 * are not written again).
 */
export async function resolveRoute(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  person: PersonIdentity,
): Promise<Route> {
  let e164 = person.e164;
  let linkedVia: string | undefined;
  const alias = person.aliases[0];
  if (!e164 && alias) {
    const aliasRouteKey = conversationKey(tenantId, { alias });
    const out = await ddb.send(
      new BatchGetCommand({
        RequestItems: {
          [table]: { Keys: [linkKey(tenantId, alias), ckey(aliasRouteKey)], ConsistentRead: true },
        },
      }),
    );
    const items = out.Responses?.[table] ?? [];
    const link = items.find((i) => i.sk === 'LINK');
    if (typeof link?.e164 === 'string') {
      e164 = link.e164;
      linkedVia = alias;
    } else {
      const keyItem = items.find((i) => i.sk === 'CKEY');
      return { routeKey: aliasRouteKey, ...(keyItem ? { existing: existingOf(keyItem) } : {}) };
    }
  }
  if (!e164) throw new Error('resolveRoute needs a phone or an alias');
  const routeKey = conversationKey(tenantId, { e164 });
  if (person.aliases.length === 0 || !person.e164) {
    const out = await ddb.send(
      new GetCommand({ TableName: table, Key: ckey(routeKey), ConsistentRead: true }),
    );
    return {
      routeKey,
      e164,
      ...(linkedVia ? { linked: new Set([linkedVia]) } : {}),
      ...(out.Item ? { existing: existingOf(out.Item) } : {}),
    };
  }
  const out = await ddb.send(
    new BatchGetCommand({
      RequestItems: {
        [table]: {
          Keys: [ckey(routeKey), ...person.aliases.map((a) => linkKey(tenantId, a))],
          ConsistentRead: true,
        },
      },
    }),
  );
  const items = out.Responses?.[table] ?? [];
  const keyItem = items.find((i) => i.sk === 'CKEY');
  const linked = new Set(
    items.filter((i) => i.sk === 'LINK' && i.e164 === e164).map((i) => String(i.alias)),
  );
  return {
    routeKey,
    e164,
    linked,
    ...(keyItem ? { existing: existingOf(keyItem) } : {}),
  };
}

function existingOf(item: Record<string, unknown>) {
  return {
    conversationId: String(item.conversationId),
    conversationKey: String(item.conversationKey),
    ...(typeof item.leadId === 'string' ? { leadId: item.leadId } : {}),
  };
}

export interface ConversationView {
  readonly conversationId: string;
  readonly conversationKey: string;
  readonly displayName: string;
  readonly displayPhone: string | null;
  readonly leadId: string | null;
  readonly lastMessageAt: string | null;
  readonly messageCount: number;
}

export function toConversationView(item: Record<string, unknown>): ConversationView {
  const e164 = typeof item.e164 === 'string' ? item.e164 : undefined;
  return {
    conversationId: String(item.conversationId),
    conversationKey: String(item.conversationKey),
    displayName: displayNameFor({
      leadName: typeof item.leadName === 'string' ? item.leadName : undefined,
      profileName: typeof item.profileName === 'string' ? item.profileName : undefined,
      e164,
    }),
    displayPhone: e164 ? formatPhone(e164) : null,
    leadId: typeof item.leadId === 'string' ? item.leadId : null,
    lastMessageAt: typeof item.lastMessageAt === 'string' ? item.lastMessageAt : null,
    messageCount: typeof item.messageCount === 'number' ? item.messageCount : 0,
  };
}

export async function getConversation(
  ddb: DynamoDBDocumentClient,
  table: string,
  conversationId: string,
): Promise<Record<string, unknown> | undefined> {
  const out = await ddb.send(
    new GetCommand({ TableName: table, Key: convKey(conversationId), ConsistentRead: true }),
  );
  return out.Item;
}

// --- cursors -------------------------------------------------------------------------------------

/** Opaque cursor: the page's last key, bound to the partition it came from so it cannot be replayed elsewhere. */
export function encodeCursor(lastKey: Record<string, unknown> | undefined): string | null {
  return lastKey ? Buffer.from(JSON.stringify(lastKey)).toString('base64url') : null;
}

export function decodeCursor(
  cursor: string | undefined,
  expected: { readonly indexPk: string; readonly indexPkValue: string },
): Record<string, unknown> | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const invalid = () =>
    new InvalidRequestError('The cursor is not valid.', [
      { field: 'cursor', message: 'use a nextCursor from a previous page' },
    ]);
  if (cursor.length > 2048) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid();
  const key = value as Record<string, unknown>;
  const allowed = new Set(['pk', 'sk', expected.indexPk, expected.indexPk.replace(/pk$/, 'sk')]);
  if (
    key[expected.indexPk] !== expected.indexPkValue ||
    Object.entries(key).some(([k, v]) => !allowed.has(k) || typeof v !== 'string')
  ) {
    throw invalid();
  }
  return key;
}

export function pageLimit(raw: string | undefined, fallback = 50, max = 200): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new InvalidRequestError('The limit is not valid.', [
      { field: 'limit', message: `must be an integer 1-${max}` },
    ]);
  }
  return n;
}

export async function listConversations(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  page: { cursor?: string; limit: number },
): Promise<{ conversations: ConversationView[]; nextCursor: string | null }> {
  // Most recent first.
  const out = await queryGsi1Page(ddb, table, tenantConversationsPk(tenantId), page, false);
  return { conversations: out.items.map(toConversationView), nextCursor: out.nextCursor };
}

/** One page of a `gsi1` partition, with the partition-bound opaque cursor. */
async function queryGsi1Page(
  ddb: DynamoDBDocumentClient,
  table: string,
  indexPkValue: string,
  page: { cursor?: string; limit: number },
  forward: boolean,
): Promise<{ items: Record<string, unknown>[]; nextCursor: string | null }> {
  const start = decodeCursor(page.cursor, { indexPk: 'gsi1pk', indexPkValue });
  const out = await ddb.send(
    new QueryCommand({
      TableName: table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': indexPkValue },
      ScanIndexForward: forward,
      Limit: page.limit,
      ...(start ? { ExclusiveStartKey: start } : {}),
    }),
  );
  return { items: out.Items ?? [], nextCursor: encodeCursor(out.LastEvaluatedKey) };
}

export interface MessageView {
  readonly messageId: string;
  readonly direction: 'in' | 'out';
  readonly channel: 'whatsapp' | 'sms';
  readonly body: string;
  readonly providerMessageId: string | null;
  readonly createdAt: string;
}

export async function listMessages(
  ddb: DynamoDBDocumentClient,
  table: string,
  conversationId: string,
  page: { cursor?: string; limit: number },
): Promise<{ messages: MessageView[]; nextCursor: string | null }> {
  // Oldest first, as a thread reads.
  const out = await queryGsi1Page(ddb, table, conversationMessagesPk(conversationId), page, true);
  return {
    messages: out.items.map((m) => ({
      messageId: String(m.messageId),
      direction: m.direction === 'out' ? 'out' : 'in',
      channel: m.channel === 'sms' ? 'sms' : 'whatsapp',
      body: typeof m.body === 'string' ? m.body : '',
      providerMessageId: typeof m.providerMessageId === 'string' ? m.providerMessageId : null,
      createdAt: String(m.createdAt),
    })),
    nextCursor: out.nextCursor,
  };
}

// --- leads, attach and merge ---------------------------------------------------------------------

export interface LeadInput {
  readonly name?: string;
  readonly phones: readonly string[];
}

/**
 * Creates or updates a lead and attaches the conversations of its phones: the lead's conversation
 * (or, the first time, the first phone's existing conversation, so its id stays stable) becomes
 * `lead:{tenant}:{leadId}`, the phones' key items point at it, and any other conversation of those
 * phones is merged into it. Every step is idempotent, so a crash anywhere is repaired by a retry.
 */
export async function attachLead(
  ddb: DynamoDBDocumentClient,
  clock: Clock,
  table: string,
  tenantId: string,
  leadId: string,
  input: LeadInput,
): Promise<{ conversationId: string; merged: number; created: boolean }> {
  const now = isoTime(clock);
  const phones = [...new Set(input.phones)];
  const saved = await ddb.send(
    new UpdateCommand({
      TableName: table,
      Key: leadKey(tenantId, leadId),
      UpdateExpression:
        'SET tenantId = :t, leadId = :l, phones = :p, updatedAt = :now, createdAt = if_not_exists(createdAt, :now)' +
        (input.name !== undefined ? ', #name = :name' : ''),
      ExpressionAttributeValues: {
        ':t': tenantId,
        ':l': leadId,
        ':p': phones,
        ':now': now,
        ...(input.name !== undefined ? { ':name': input.name } : {}),
      },
      ...(input.name !== undefined ? { ExpressionAttributeNames: { '#name': 'name' } } : {}),
      ReturnValues: 'ALL_OLD',
    }),
  );
  const created = saved.Attributes === undefined;
  const leadName =
    input.name ?? (typeof saved.Attributes?.name === 'string' ? saved.Attributes.name : undefined);
  await writeAtomically(
    ddb,
    phones.map((e164) => ({
      label: `leadphone:${e164}`,
      put: { table, item: { ...leadPhoneKey(tenantId, e164), tenantId, leadId, e164 } },
    })),
  );
  failpoint(AFTER_LEAD_SAVED);
  const { conversationId, merged } = await foldIntoLeadConversation(ddb, clock, table, tenantId, {
    leadId,
    ...(leadName !== undefined ? { leadName } : {}),
    keys: phones.map((e164) => conversationKey(tenantId, { e164 })),
    e164: phones[0],
  });
  return { conversationId, merged, created };
}

/**
 * The core of attach and link: every conversation named by `keys` ends up in one conversation,
 * keyed `lead:` when a lead is given, else by `keys[0]`.
 */
export async function foldIntoLeadConversation(
  ddb: DynamoDBDocumentClient,
  clock: Clock,
  table: string,
  tenantId: string,
  target: {
    leadId?: string;
    leadName?: string;
    keys: readonly string[];
    e164?: string | undefined;
  },
): Promise<{ conversationId: string; merged: number }> {
  const leadTargetKey = target.leadId
    ? conversationKey(tenantId, { leadId: target.leadId })
    : undefined;
  const first = target.keys[0];
  if (!first && !leadTargetKey) throw new Error('nothing to fold');
  const allKeys = [...new Set([...(leadTargetKey ? [leadTargetKey] : []), ...target.keys])];
  const out = await ddb.send(
    new BatchGetCommand({
      RequestItems: { [table]: { Keys: allKeys.map(ckey), ConsistentRead: true } },
    }),
  );
  const found = new Map<string, Record<string, unknown>>();
  for (const item of out.Responses?.[table] ?? [])
    found.set(String(item.pk).slice('CKEY#'.length), item);
  // Without a lead, the target is whatever the first key already names (it may be a lead's conversation).
  const firstItem = first ? found.get(first) : undefined;
  const targetKey =
    leadTargetKey ??
    (typeof firstItem?.conversationKey === 'string'
      ? firstItem.conversationKey
      : (first as string));
  const leadId =
    target.leadId ?? (typeof firstItem?.leadId === 'string' ? firstItem.leadId : undefined);
  if (!allKeys.includes(targetKey)) allKeys.push(targetKey);
  const idOf = (key: string) => {
    const id = found.get(key)?.conversationId;
    return typeof id === 'string' ? id : undefined;
  };
  const survivor =
    idOf(targetKey) ??
    target.keys.map(idOf).find((id): id is string => id !== undefined) ??
    conversationIdFor(targetKey);
  const now = isoTime(clock);
  // The survivor carries the target key (an upsert: it may not exist yet when no message arrived).
  await ddb.send(
    new UpdateCommand({
      TableName: table,
      Key: convKey(survivor),
      UpdateExpression:
        'SET conversationKey = :key, tenantId = :t, conversationId = :id, createdAt = if_not_exists(createdAt, :now), ' +
        'messageCount = if_not_exists(messageCount, :zero), gsi1pk = :gpk, gsi1sk = if_not_exists(gsi1sk, :gsk)' +
        (leadId ? ', leadId = :lead' : '') +
        (target.leadName !== undefined ? ', leadName = :leadName' : '') +
        (target.e164 ? ', e164 = if_not_exists(e164, :e164)' : '') +
        ' REMOVE mergedInto',
      ExpressionAttributeValues: {
        ':key': targetKey,
        ':t': tenantId,
        ':id': survivor,
        ':now': now,
        ':zero': 0,
        ':gpk': tenantConversationsPk(tenantId),
        ':gsk': `${now}#${survivor}`,
        ...(leadId ? { ':lead': leadId } : {}),
        ...(target.leadName !== undefined ? { ':leadName': target.leadName } : {}),
        ...(target.e164 ? { ':e164': target.e164 } : {}),
      },
    }),
  );
  failpoint(AFTER_CONVERSATION_REKEYED);
  await writeAtomically(
    ddb,
    allKeys.map((key) => ({
      label: `key:${key}`,
      put: {
        table,
        item: {
          ...ckey(key),
          tenantId,
          conversationId: survivor,
          conversationKey: targetKey,
          ...(leadId ? { leadId } : {}),
        },
      },
    })),
  );
  failpoint(AFTER_KEYS_REDIRECTED);
  let merged = 0;
  // Candidates include the ids each key would have been given (ids are deterministic), so a retry
  // after a crash that already redirected the keys still finds the conversations left to merge.
  const candidates = new Set([...allKeys.map(idOf), ...allKeys.map(conversationIdFor)]);
  for (const other of candidates) {
    if (other === undefined) continue;
    if (other === survivor) continue;
    merged += await mergeConversation(ddb, table, other, survivor);
  }
  return { conversationId: survivor, merged };
}

/**
 * Moves every message of `from` into `into`, each move with its two counters in one transaction
 * (guarded on the message still being in `from`), after marking `from` merged so no new message
 * is filed there. Returns the number of messages moved.
 */
export async function mergeConversation(
  ddb: DynamoDBDocumentClient,
  table: string,
  from: string,
  into: string,
): Promise<number> {
  await ddb
    .send(
      new UpdateCommand({
        TableName: table,
        Key: convKey(from),
        UpdateExpression: 'SET mergedInto = :into REMOVE gsi1pk, gsi1sk',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':into': into },
      }),
    )
    .catch((error: unknown) => {
      if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
    });
  let moved = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(
      new QueryCommand({
        TableName: table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': conversationMessagesPk(from) },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const message of page.Items ?? []) {
      const writes: AtomicWrite[] = [
        {
          label: 'message',
          update: {
            table,
            key: { pk: message.pk, sk: message.sk },
            update: 'SET conversationId = :into, gsi1pk = :gpk',
            condition: 'conversationId = :from',
            values: { ':into': into, ':from': from, ':gpk': conversationMessagesPk(into) },
          },
        },
        {
          label: 'from',
          update: {
            table,
            key: convKey(from),
            update: 'ADD messageCount :minus',
            values: { ':minus': -1 },
          },
        },
        {
          label: 'into',
          update: {
            table,
            key: convKey(into),
            update: 'ADD messageCount :one SET lastMessageAt = if_not_exists(lastMessageAt, :at)',
            values: { ':one': 1, ':at': message.createdAt },
          },
        },
      ];
      const result = await retryOnConflict(() => writeAtomically(ddb, writes));
      if (result.ok) moved += 1;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return moved;
}

/** The lead that owns a phone, if any. */
export async function leadForPhone(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  e164: string,
): Promise<{ leadId: string; name?: string } | undefined> {
  const out = await ddb.send(
    new GetCommand({ TableName: table, Key: leadPhoneKey(tenantId, e164) }),
  );
  if (typeof out.Item?.leadId !== 'string') return undefined;
  const lead = await ddb.send(
    new GetCommand({ TableName: table, Key: leadKey(tenantId, out.Item.leadId) }),
  );
  return {
    leadId: out.Item.leadId,
    ...(typeof lead.Item?.name === 'string' ? { name: lead.Item.name } : {}),
  };
}
