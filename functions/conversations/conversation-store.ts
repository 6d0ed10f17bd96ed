/**
 * The conversations read side and leads, as a port (`ConversationStore`) and its DynamoDB adapter
 * (`DynamoDbConversationStore`): a conversation by id, the tenant's listing (sharded over
 * `LISTING_SHARDS` index keys, merged on read), a conversation's messages, and the lead items.
 * Items come out typed (`ConversationItem`, `MessageView`, `LeadOfPhone`); keys and parsers are in
 * `items.ts`; the one write here that is not a plain upsert goes through the kernel's
 * `conditionalUpdate`. `attachLead` and `messagesOf` are the domain steps over the port and
 * `merge.ts`. Routing is in `routing.ts`, folding and merging in `merge.ts`.
 */

import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { writeAtomically } from '../kernel/atomic.js';
import { isoTime } from '../kernel/clock.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { decodeCursor, encodeCursor, keyAttribute, keyCursor } from '../kernel/cursor.js';
import { NotFoundError } from '../kernel/errors.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { parsePageLimit } from '../kernel/page-limit.js';
import { queryPage, queryPageFrom } from '../kernel/paginate.js';
import { formatPhone } from '../kernel/phone.js';
import type { Item } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import * as z from '../kernel/zod.js';
import { displayNameFor } from './identity.js';
import {
  aliases,
  type ConversationItem,
  conversationKey,
  keys,
  LISTING_SHARDS,
  leadPhoneItem,
  type MessageChannel,
  toConversationItem,
  toListedMessage,
} from './items.js';
import { type ConversationsStoreContext, foldConversations } from './merge.js';

export type { ConversationItem };

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

export interface MessageView {
  readonly messageId: string;
  readonly direction: 'in' | 'out';
  readonly channel: MessageChannel;
  readonly body: string;
  readonly providerMessageId: string | null;
  readonly createdAt: string;
  /** Replies (api.md, "Replies"): where the send stands. */
  readonly status?: string;
}

export interface PageRequest {
  readonly cursor?: string;
  readonly limit: number;
}

export interface LeadInput {
  readonly name?: string;
  readonly phones: readonly string[];
  /** E-mail addresses (compared lower-cased) and LinkedIn provider ids of the lead. */
  readonly emails?: readonly string[];
  readonly linkedin?: readonly string[];
}

/** The lead owning a phone. */
export interface LeadOfPhone {
  readonly leadId: string;
  readonly name?: string;
}

/** The conversations context's read side and lead items (the port). */
export interface ConversationStore {
  /** Strongly consistent. */
  getConversation(conversationId: string): Promise<ConversationItem | undefined>;
  /** Most recent first, across every listing shard. */
  listConversations(
    tenantId: string,
    page: PageRequest,
  ): Promise<{ conversations: ConversationView[]; nextCursor: string | null }>;
  /** Oldest first, as a thread reads. */
  listMessages(
    conversationId: string,
    page: PageRequest,
  ): Promise<{ messages: MessageView[]; nextCursor: string | null }>;
  /** Creates or updates the lead item; `created` is true for exactly one of racing creations. */
  saveLead(
    tenantId: string,
    leadId: string,
    input: LeadInput,
    now: string,
  ): Promise<{ created: boolean; name?: string }>;
  /** Points each phone's lead index item at the lead (idempotent upserts, one transaction). */
  indexLeadPhones(tenantId: string, leadId: string, phones: readonly string[]): Promise<void>;
  leadForPhone(tenantId: string, e164: string): Promise<LeadOfPhone | undefined>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const normalEmail = (address: string) => address.trim().toLowerCase();

export function toConversationView(c: ConversationItem): ConversationView {
  return {
    conversationId: c.conversationId,
    conversationKey: c.conversationKey,
    displayName: displayNameFor({ leadName: c.leadName, profileName: c.profileName, e164: c.e164 }),
    displayPhone: c.e164 ? formatPhone(c.e164) : null,
    leadId: c.leadId ?? null,
    lastMessageAt: c.lastMessageAt ?? null,
    messageCount: c.messageCount,
  };
}

function toMessageView(item: Item): MessageView {
  const m = toListedMessage(item);
  return {
    messageId: m.messageId,
    direction: m.direction,
    channel: m.channel,
    body: m.body,
    providerMessageId: m.providerMessageId ?? null,
    createdAt: m.createdAt,
    ...(m.status !== undefined ? { status: m.status } : {}),
  };
}

// --- cursors -------------------------------------------------------------------------------------

/** A conversation's messages page by the last key of a `gsi1` page, bound to that conversation. */
export const messagesCursor = (conversationId: string) =>
  keyCursor(['pk', 'sk', 'gsi1pk', 'gsi1sk'], {
    gsi1pk: keys.conversationMessages(conversationId),
  });

/**
 * The listing cursor: the sort key of the last conversation returned, bound to the tenant's listing
 * (the kernel's codec refuses a cursor of any other listing). At most 1,024 UTF-8 bytes, DynamoDB's
 * cap on a sort-key value, which a key condition's value must also respect.
 */
function decodeListingCursor(cursor: string | undefined, tenantId: string): string | undefined {
  const position = decodeCursor(
    cursor,
    z.strictObject({ b: keyAttribute }),
    listingScope(tenantId),
  );
  return position?.b;
}

const listingScope = (tenantId: string) => ({ listing: 'conversations', tenantId });

export const pageLimit = (raw: string | undefined): number =>
  parsePageLimit(raw, { fallback: 50, max: 200 });

// --- the DynamoDB adapter ------------------------------------------------------------------------

export class DynamoDbConversationStore implements ConversationStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Newest first: one listing shard's conversations older than `before` (a sort key). */
  private async listingShard(tenantId: string, shard: number, limit: number, before?: string) {
    const page = await queryPageFrom(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: before ? 'gsi1pk = :pk AND gsi1sk < :before' : 'gsi1pk = :pk',
        ExpressionAttributeValues: {
          ':pk': keys.listing(tenantId, shard),
          ...(before ? { ':before': before } : {}),
        },
        ScanIndexForward: false,
        Limit: limit,
      },
      undefined,
    );
    return { items: page.items.map(toConversationItem), more: page.lastKey !== undefined };
  }

  async listMessages(conversationId: string, page: PageRequest) {
    const out = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.conversationMessages(conversationId) },
        ScanIndexForward: true,
        Limit: page.limit,
      },
      page.cursor,
      messagesCursor(conversationId),
    );
    return { messages: out.items.map(toMessageView), nextCursor: out.nextCursor };
  }

  /**
   * Each shard's next `limit` items older than the cursor, merged by sort key
   * (`<lastMessageAt>#<id>`, unique per tenant), the first `limit` kept.
   */
  async listConversations(tenantId: string, page: PageRequest) {
    const before = decodeListingCursor(page.cursor, tenantId);
    const shards = await Promise.all(
      Array.from({ length: LISTING_SHARDS }, (_, shard) =>
        this.listingShard(tenantId, shard, page.limit, before),
      ),
    );
    const merged = shards
      .flatMap((s) => s.items)
      .sort((a, b) => (String(a.listingSort) < String(b.listingSort) ? 1 : -1));
    const items = merged.slice(0, page.limit);
    const more = merged.length > page.limit || shards.some((s) => s.more);
    const last = items.at(-1);
    const nextCursor =
      more && last ? encodeCursor({ b: String(last.listingSort) }, listingScope(tenantId)) : null;
    return { conversations: items.map(toConversationView), nextCursor };
  }

  async getConversation(conversationId: string): Promise<ConversationItem | undefined> {
    const item = await readItem(this.ddb, this.table, keys.conversation(conversationId));
    return item ? toConversationItem(item) : undefined;
  }

  async saveLead(tenantId: string, leadId: string, input: LeadInput, now: string) {
    const saved = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.lead(tenantId, leadId),
      set: {
        tenantId,
        leadId,
        phones: [...new Set(input.phones)],
        ...(input.emails ? { emails: [...new Set(input.emails.map(normalEmail))] } : {}),
        ...(input.linkedin ? { linkedin: [...new Set(input.linkedin)] } : {}),
        updatedAt: now,
        ...(input.name !== undefined ? { name: input.name } : {}),
      },
      setIfAbsent: { createdAt: now },
      // Counted saves: the one save that finds no item is the only one to read 1 with this instant.
      add: { saves: 1 },
    });
    if (!saved.applied) throw new Error(`lead ${leadId} was not saved`);
    const item = saved.item;
    const name = str(item.name);
    return {
      created: item.saves === 1 && item.createdAt === now,
      ...(name !== undefined ? { name } : {}),
    };
  }

  async indexLeadPhones(tenantId: string, leadId: string, phones: readonly string[]) {
    if (phones.length === 0) return;
    await writeAtomically(
      this.ddb,
      [...new Set(phones)].map((e164) => ({
        label: `leadphone:${e164}`,
        put: {
          table: this.table,
          item: leadPhoneItem({ tenantId, leadId, e164 }),
        },
      })),
    );
  }

  async leadForPhone(tenantId: string, e164: string): Promise<LeadOfPhone | undefined> {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: keys.leadPhone(tenantId, e164) }),
    );
    const leadId = str(out.Item?.leadId);
    if (!leadId) return undefined;
    const lead = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: keys.lead(tenantId, leadId) }),
    );
    const name = str(lead.Item?.name);
    return { leadId, ...(name !== undefined ? { name } : {}) };
  }
}

// --- leads ---------------------------------------------------------------------------------------

/**
 * Creates or updates a lead and attaches the conversations of its phones: the lead's conversation
 * (or, the first time, the first phone's existing conversation, so its id stays stable) becomes
 * `lead:{tenant}:{leadId}`, the phones' key items point at it, and any other conversation of those
 * phones is merged into it. Every step is idempotent, so a crash anywhere is repaired by a retry.
 */
export async function attachLead(
  deps: ConversationsStoreContext & { readonly store: ConversationStore },
  tenantId: string,
  leadId: string,
  input: LeadInput,
): Promise<{ conversationId: string; merged: number; created: boolean }> {
  const phones = [...new Set(input.phones)];
  const saved = await deps.store.saveLead(tenantId, leadId, input, isoTime(deps.clock));
  await deps.store.indexLeadPhones(tenantId, leadId, phones);
  failpoint(AFTER_LEAD_SAVED);
  // The lead's addresses and LinkedIn ids are aliases: their conversations (and their future
  // messages, through the key items the fold points at the lead) are the lead's.
  const aliasNames = [
    ...(input.emails ?? []).map(aliases.email),
    ...(input.linkedin ?? []).map(aliases.linkedin),
  ];
  const { conversationId, merged } = await foldConversations(deps, tenantId, {
    leadId,
    ...(saved.name !== undefined ? { leadName: saved.name } : {}),
    keys: [
      ...phones.map((e164) => conversationKey(tenantId, { e164 })),
      ...[...new Set(aliasNames)].map((alias) => conversationKey(tenantId, { alias })),
    ],
    e164: phones[0],
  });
  return { conversationId, merged, created: saved.created };
}

// --- messages ------------------------------------------------------------------------------------

/** How many `mergedInto` hops a conversation id may be behind its survivor before it is 404. */
const MAX_MERGE_HOPS = 3;

/**
 * A conversation's messages, oldest first, as its tenant sees them: another tenant's conversation
 * is not found, and a conversation merged into another answers with the survivor's messages.
 */
export async function messagesOf(
  store: ConversationStore,
  tenantId: string,
  conversationId: string,
  page: PageRequest,
): Promise<{ messages: MessageView[]; nextCursor: string | null }> {
  let id = conversationId;
  for (let hop = 0; ; hop++) {
    const conversation = await store.getConversation(id);
    if (!conversation || conversation.tenantId !== tenantId || hop > MAX_MERGE_HOPS) {
      throw new NotFoundError('No such conversation.');
    }
    if (conversation.mergedInto === undefined) break;
    id = conversation.mergedInto;
  }
  return store.listMessages(id, page);
}
