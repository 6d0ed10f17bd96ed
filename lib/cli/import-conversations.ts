/**
 * `onceflow import conversations FILE`: a legacy inbox (JSON lines, one legacy conversation each)
 * into onceflow's conversations, one per person by the same identity rules as live traffic
 * (`identifyPerson` from `functions/conversations/identity.ts`) and written through the same store
 * code the webhooks use (`storeMessage`), so a message is stored once by its provider message id:
 * running the import again, or a live webhook for the same message, writes nothing new.
 *
 * The plan (dry run) groups legacy conversations into persons: two legacy conversations that share
 * a phone (in any form: JID, `@c.us`, device JID, national number) or an alias (`@lid`) are one
 * person. When executing, legacy conversations that show a phone are written first, so their
 * `@lid` links exist before a conversation known only by its `@lid` is filed.
 */
import * as z from 'zod';
import {
  identifyPerson,
  isIdentified,
  type PersonIdentity,
} from '../../functions/conversations/identity.js';
import type { InboundDeps, StoreResult } from '../../functions/conversations/store-message.js';

const id = z.string().min(1).max(256);

export const legacyConversationSchema = z
  .object({
    tenantId: id,
    legacyId: id,
    identifiers: z.array(z.string().min(1).max(160)).min(1).max(50),
    leadId: id.optional(),
    name: z.string().max(200).optional(),
    messages: z
      .array(
        z.object({
          providerMessageId: id,
          direction: z.enum(['in', 'out']),
          channel: z.enum(['whatsapp', 'sms']),
          body: z.string().max(16384),
          createdAt: z.iso.datetime({ offset: true }),
        }),
      )
      .max(10_000),
  })
  .strict();

export type LegacyConversation = z.output<typeof legacyConversationSchema>;

export interface RefusedRow {
  readonly line: number;
  readonly legacyId?: string;
  readonly reason: string;
}

export interface ParsedRow {
  readonly line: number;
  readonly conversation: LegacyConversation;
}

/** Parses JSON lines; each bad line is refused with its reason, the rest go on. */
export function parseLegacyLines(text: string): { rows: ParsedRow[]; refused: RefusedRow[] } {
  const rows: ParsedRow[] = [];
  const refused: RefusedRow[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      refused.push({ line, reason: 'not valid JSON' });
      return;
    }
    const parsed = legacyConversationSchema.safeParse(json);
    if (!parsed.success) {
      const legacyId = (json as { legacyId?: unknown })?.legacyId;
      refused.push({
        line,
        ...(typeof legacyId === 'string' ? { legacyId: legacyId.slice(0, 256) } : {}),
        reason: parsed.error.issues
          .map((issue) => `${issue.path.join('.') || '(row)'}: ${issue.message}`)
          .join('; '),
      });
      return;
    }
    const key = `${parsed.data.tenantId}|${parsed.data.legacyId}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      refused.push({
        line,
        legacyId: parsed.data.legacyId,
        reason: `legacyId repeats line ${earlier}`,
      });
      return;
    }
    seen.set(key, line);
    rows.push({ line, conversation: parsed.data });
  });
  return { rows, refused };
}

/** The identity of a legacy conversation, as live traffic would resolve it. */
export function personOf(conversation: LegacyConversation, defaultCountry: string): PersonIdentity {
  // WhatsApp ids first (they carry the international number); a bare national number is read
  // with the tenant's country, as a phone typed into the product would be.
  const national = conversation.identifiers.find((i) => !i.includes('@') && !i.startsWith('+'));
  const phone = conversation.identifiers.find((i) => !i.includes('@')) ?? national;
  return identifyPerson(conversation.identifiers, { phone, defaultCountry });
}

export interface PlannedPerson {
  readonly tenantId: string;
  /** E.164 when any legacy conversation shows it, else the first alias. */
  readonly person: string;
  readonly legacyIds: string[];
  readonly messages: number;
}

export interface ImportPlan {
  readonly persons: PlannedPerson[];
  readonly messages: number;
  readonly refused: RefusedRow[];
  /** Rows in write order (phones before alias-only), with their identity. */
  readonly ordered: Array<ParsedRow & { person: PersonIdentity }>;
}

/**
 * Groups legacy conversations into persons: conversations sharing a phone or an alias are one
 * person (union–find over the identifiers), the way links make them one conversation live.
 */
export function planImport(
  rows: readonly ParsedRow[],
  refusedEarlier: readonly RefusedRow[],
  defaultCountryOf: (tenantId: string) => string | undefined,
): ImportPlan {
  const refused = [...refusedEarlier];
  const identified: Array<ParsedRow & { person: PersonIdentity }> = [];
  for (const row of rows) {
    const country = defaultCountryOf(row.conversation.tenantId);
    if (!country) {
      refused.push({
        line: row.line,
        legacyId: row.conversation.legacyId,
        reason: `no tenant ${row.conversation.tenantId}`,
      });
      continue;
    }
    const person = personOf(row.conversation, country);
    if (!isIdentified(person)) {
      refused.push({
        line: row.line,
        legacyId: row.conversation.legacyId,
        reason: 'no identifier names a person (groups, broadcast lists and junk are not people)',
      });
      continue;
    }
    identified.push({ ...row, person });
  }
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root) ?? root;
    parent.set(x, root);
    return root;
  };
  const union = (a: string, b: string) => {
    for (const k of [a, b]) if (!parent.has(k)) parent.set(k, k);
    const ra = find(a);
    const rb = find(b);
    // Prefer a phone as the representative.
    if (ra !== rb) {
      if (ra.includes('|+')) parent.set(rb, ra);
      else parent.set(ra, rb);
    }
  };
  const keysOf = (row: (typeof identified)[number]) => {
    const t = row.conversation.tenantId;
    return [
      ...(row.person.e164 ? [`${t}|${row.person.e164}`] : []),
      ...row.person.aliases.map((a) => `${t}|${a}`),
    ];
  };
  for (const row of identified) {
    const [first, ...rest] = keysOf(row);
    if (!first) continue;
    if (!parent.has(first)) parent.set(first, first);
    for (const other of rest) union(first, other);
  }
  const persons = new Map<string, PlannedPerson>();
  for (const row of identified) {
    const [first] = keysOf(row);
    if (!first) continue;
    const root = find(first);
    const entry = persons.get(root) ?? {
      tenantId: row.conversation.tenantId,
      person: root.slice(root.indexOf('|') + 1),
      legacyIds: [],
      messages: 0,
    };
    entry.legacyIds.push(row.conversation.legacyId);
    persons.set(root, { ...entry, messages: entry.messages + row.conversation.messages.length });
  }
  const ordered = [...identified].sort(
    (a, b) => Number(b.person.e164 !== undefined) - Number(a.person.e164 !== undefined),
  );
  return {
    persons: [...persons.values()],
    messages: identified.reduce((n, r) => n + r.conversation.messages.length, 0),
    refused,
    ordered,
  };
}

export interface ImportResult {
  readonly written: number;
  readonly alreadyThere: number;
  readonly conversations: Set<string>;
}

/** Writes the plan's messages through the live store code, one message at a time. */
export async function executeImport(
  plan: ImportPlan,
  store: (deps: InboundDeps, message: Parameters<StoreFn>[1]) => Promise<StoreResult>,
  deps: InboundDeps,
  progress: (done: number) => void,
): Promise<ImportResult> {
  let written = 0;
  let alreadyThere = 0;
  let done = 0;
  const conversations = new Set<string>();
  for (const row of plan.ordered) {
    for (const message of row.conversation.messages) {
      const result = await store(deps, {
        tenantId: row.conversation.tenantId,
        channel: message.channel,
        direction: message.direction,
        // The same key the live webhook path gives this provider message, so live and imported
        // copies of one message are one message.
        dedupeKey:
          message.channel === 'whatsapp'
            ? `wamid:${message.providerMessageId}`
            : `legacy:${message.providerMessageId}`,
        providerMessageId: message.providerMessageId,
        body: message.body,
        createdAt: new Date(message.createdAt).toISOString(),
        person: row.person,
        ...(row.conversation.name && message.direction === 'in'
          ? { profileName: row.conversation.name }
          : {}),
      });
      if (result.deduped) alreadyThere += 1;
      else written += 1;
      conversations.add(result.conversationId);
      done += 1;
      progress(done);
    }
  }
  return { written, alreadyThere, conversations };
}

type StoreFn = typeof import('../../functions/conversations/store-message.js').storeMessage;
