/**
 * The conversations read side and leads: views, cursors, the tenant's listing (sharded over
 * `LISTING_SHARDS` index keys, merged on read) and a conversation's messages, and `attachLead`.
 * Keys are in `keys.ts`, routing in `routing.ts`, folding and merging in `merge.ts`.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { writeAtomically } from '../kernel/atomic.js';
import { type Clock, isoTime } from '../kernel/clock.js';
import { decodeCursor as decodeKernelCursor, encodeCursor, keyCursor } from '../kernel/cursor.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { parsePageLimit } from '../kernel/page-limit.js';
import { formatPhone } from '../kernel/phone.js';
import { conversationKey, displayNameFor } from './identity.js';
import {
  conversationMessagesPk,
  convKey,
  LISTING_SHARDS,
  leadKey,
  leadPhoneKey,
  tenantListingPk,
} from './keys.js';
import { foldConversations } from './merge.js';

export const AFTER_LEAD_SAVED = defineFailpoint(
  'leads.after-lead-saved',
  'PUT /v1/leads: the lead and its phone index are written, its conversations not yet re-keyed',
);

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

/** A page's cursor: the kernel's codec over the page's last key. */
export { encodeCursor };

/** The last key of a `gsi1` page, bound to the partition it came from so it cannot page another. */
export function decodeCursor(
  cursor: string | undefined,
  expected: { readonly indexPk: string; readonly indexPkValue: string },
): Record<string, string> | undefined {
  const indexSk = expected.indexPk.replace(/pk$/, 'sk');
  return decodeKernelCursor(
    cursor,
    keyCursor(['pk', 'sk', expected.indexPk, indexSk], {
      [expected.indexPk]: expected.indexPkValue,
    }),
  );
}

export const pageLimit = (raw: string | undefined): number =>
  parsePageLimit(raw, { fallback: 50, max: 200 });

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

/** The listing cursor: the sort key of the last conversation returned, bound to the tenant. */
function decodeListingCursor(cursor: string | undefined, tenantId: string): string | undefined {
  const position = decodeKernelCursor(
    cursor,
    z.strictObject({ t: z.literal(tenantId), b: z.string().max(512) }),
  );
  return position?.b;
}

/**
 * Most recent first, across every listing shard: each shard's next `limit` items older than the
 * cursor, merged by sort key (`<lastMessageAt>#<id>`, unique per tenant), the first `limit` kept.
 */
export async function listConversations(
  ddb: DynamoDBDocumentClient,
  table: string,
  tenantId: string,
  page: { cursor?: string; limit: number },
): Promise<{ conversations: ConversationView[]; nextCursor: string | null }> {
  const before = decodeListingCursor(page.cursor, tenantId);
  const shards = await Promise.all(
    Array.from({ length: LISTING_SHARDS }, async (_, shard) => {
      const out = await ddb.send(
        new QueryCommand({
          TableName: table,
          IndexName: 'gsi1',
          KeyConditionExpression: before ? 'gsi1pk = :pk AND gsi1sk < :before' : 'gsi1pk = :pk',
          ExpressionAttributeValues: {
            ':pk': tenantListingPk(tenantId, shard),
            ...(before ? { ':before': before } : {}),
          },
          ScanIndexForward: false,
          Limit: page.limit,
        }),
      );
      return { items: out.Items ?? [], more: out.LastEvaluatedKey !== undefined };
    }),
  );
  const merged = shards
    .flatMap((s) => s.items)
    .sort((a, b) => (String(a.gsi1sk) < String(b.gsi1sk) ? 1 : -1));
  const items = merged.slice(0, page.limit);
  const more = merged.length > page.limit || shards.some((s) => s.more);
  const last = items.at(-1);
  const nextCursor = more && last ? encodeCursor({ t: tenantId, b: String(last.gsi1sk) }) : null;
  return { conversations: items.map(toConversationView), nextCursor };
}

// --- leads ---------------------------------------------------------------------------------------

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
  const { conversationId, merged } = await foldConversations({ ddb, clock, table }, tenantId, {
    leadId,
    ...(leadName !== undefined ? { leadName } : {}),
    keys: phones.map((e164) => conversationKey(tenantId, { e164 })),
    e164: phones[0],
  });
  return { conversationId, merged, created };
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
