/**
 * `onceflow conversations audit [--execute]`: any person with more than one live conversation
 * (should be none) and the merges that would fix them. A person is what the identity rules make
 * one: a phone, the aliases (`@lid`, BSUID) linked to it, and the lead that owns it. The survivor
 * is the lead's conversation, else the phone's, else the oldest; `--execute` merges the others into
 * it with the store's own `foldConversations` (the live path's merge: every move guarded and
 * conditional), so running it twice merges nothing the second time.
 */
import { type DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import {
  type PersonItem,
  parseConversationKey,
  personItemsScan,
  toPersonItem,
} from '../../functions/conversations/index.js';

export type ConversationRecord = Omit<Extract<PersonItem, { kind: 'conversation' }>, 'kind'>;

export interface PlannedMerge {
  readonly tenantId: string;
  readonly person: string;
  readonly into: string;
  readonly from: string[];
  /** The conversation keys of `into` and `from`, which the store's fold takes. */
  readonly intoKey: string;
  readonly fromKeys: string[];
}

export interface AuditInput {
  readonly conversations: readonly ConversationRecord[];
  /** `tenant|alias` → e164 (LINK items). */
  readonly links: ReadonlyMap<string, string>;
  /** `tenant|leadId` → its phones (LEADPHONE items). */
  readonly leadPhones: ReadonlyMap<string, readonly string[]>;
}

/** Reads every live conversation, link and lead phone of the inbound table (one scan). */
export async function readAuditInput(
  ddb: DynamoDBDocumentClient,
  table: string,
): Promise<AuditInput> {
  const conversations: ConversationRecord[] = [];
  const links = new Map<string, string>();
  const leadPhones = new Map<string, string[]>();
  for await (const page of paginateScan(
    { client: ddb },
    {
      TableName: table,
      ...personItemsScan,
      ConsistentRead: true,
    },
  )) {
    for (const raw of page.Items ?? []) {
      const item = toPersonItem(raw);
      if (item?.kind === 'conversation') {
        const { kind: _kind, ...conversation } = item;
        conversations.push(conversation);
      } else if (item?.kind === 'link') {
        links.set(`${item.tenantId}|${item.alias}`, item.e164);
      } else if (item?.kind === 'leadPhone') {
        const key = `${item.tenantId}|${item.leadId}`;
        leadPhones.set(key, [...(leadPhones.get(key) ?? []), item.e164]);
      }
    }
  }
  return { conversations, links, leadPhones };
}

/** The phone a conversation belongs to, if its key, its item or a link says so. */
function phonesOf(c: ConversationRecord, input: AuditInput): string[] {
  const { kind, id: value } = parseConversationKey(c.conversationKey);
  if (kind === 'lead') return [...(input.leadPhones.get(`${c.tenantId}|${value}`) ?? [])];
  if (kind === 'phone') return [value];
  if (kind === 'alias') {
    const linked = input.links.get(`${c.tenantId}|${value}`);
    return linked ? [linked] : c.e164 ? [c.e164] : [];
  }
  return c.e164 ? [c.e164] : [];
}

const RANK: Record<string, number> = { lead: 0, phone: 1, alias: 2 };

export function planMerges(input: AuditInput): PlannedMerge[] {
  const byPhone = new Map<string, ConversationRecord[]>();
  for (const c of input.conversations) {
    for (const phone of phonesOf(c, input)) {
      const key = `${c.tenantId}|${phone}`;
      const list = byPhone.get(key) ?? [];
      if (!list.includes(c)) list.push(c);
      byPhone.set(key, list);
    }
  }
  const merges: PlannedMerge[] = [];
  const planned = new Set<string>();
  for (const [key, list] of byPhone) {
    const fresh = list.filter((c) => !planned.has(c.conversationId));
    if (fresh.length < 2) continue;
    const sorted = [...fresh].sort(
      (a, b) =>
        (RANK[parseConversationKey(a.conversationKey).kind] ?? 3) -
          (RANK[parseConversationKey(b.conversationKey).kind] ?? 3) ||
        String(a.createdAt).localeCompare(String(b.createdAt)),
    );
    const [into, ...from] = sorted;
    if (!into) continue;
    for (const c of sorted) planned.add(c.conversationId);
    merges.push({
      tenantId: into.tenantId,
      person: key.slice(key.indexOf('|') + 1),
      into: into.conversationId,
      from: from.map((c) => c.conversationId),
      intoKey: into.conversationKey,
      fromKeys: from.map((c) => c.conversationKey),
    });
  }
  return merges;
}
