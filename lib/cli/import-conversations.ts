/**
 * `onceflow import conversations FILE`: a legacy inbox (JSON lines, one legacy conversation each)
 * into onceflow's conversations, one per person by the same identity rules as live traffic
 * (`identifyPerson` from `functions/conversations/identity.ts`) and written through the same store
 * code the webhooks use (`storeMessage`), under exactly the dedupe key the live webhook of that
 * provider builds (`messageKeys` of `functions/webhooks/`): running the import again, or a live
 * webhook redelivering an imported message, writes nothing new.
 *
 * Which provider an id came from decides its key, and a legacy id cannot show it reliably, so each
 * message may say it (`"provider": "cloud" | "web" | "ghl" | "other"`). When it does not, the
 * inference only takes what cannot be wrong and refuses the rest (`inferProvider`).
 *
 * History is history: a conversation's `lastMessageAt` comes from the messages' own times (and is
 * never moved backwards by an import), and post-processing jobs (lead matching, AI triage: model
 * calls) run only for messages younger than a day unless asked otherwise (`--jobs`).
 *
 * The plan (dry run) groups legacy conversations into persons: two legacy conversations that share
 * a phone (in any form: JID, `@c.us`, device JID, national number) or an alias (`@lid`) are one
 * person. When executing, legacy conversations that show a phone are written first, so their
 * `@lid` links exist before a conversation known only by its `@lid` is filed.
 */
import * as z from 'zod';
import {
  advanceLastMessageAt,
  attachLead,
  DynamoDbConversationStore,
  type InboundDeps,
  identifyPerson,
  isIdentified,
  type PersonIdentity,
  type StoreResult,
} from '../../functions/conversations/index.js';
import { type MessageProvider, messageKeys } from '../../functions/webhooks/index.js';

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
        z
          .object({
            providerMessageId: id,
            /**
             * Where the id came from: `cloud` (WhatsApp Cloud API `wamid.`), `web` (a WhatsApp Web
             * gateway's `key.id`), `ghl` (a GoHighLevel SMS message id), `other` (a system onceflow
             * never receives live: stored under `legacy:<id>`).
             */
            provider: z.enum(['cloud', 'web', 'ghl', 'other']).optional(),
            direction: z.enum(['in', 'out']),
            channel: z.enum(['whatsapp', 'sms']),
            body: z.string().max(16384),
            createdAt: z.iso.datetime({ offset: true }),
          })
          .strict(),
      )
      .max(10_000),
  })
  .strict();

export type LegacyConversation = z.output<typeof legacyConversationSchema>;
export type LegacyMessage = LegacyConversation['messages'][number];
export type ImportProvider = MessageProvider | 'other';

/** The key of an id no live webhook delivers (`provider: "other"`). */
export const legacyKey = (providerMessageId: string) => `legacy:${providerMessageId}`;

/**
 * WhatsApp Web message key ids are upper-case hex: Baileys' own `generateMessageID` is `3EB0` + hex
 * (WhiskeySockets/Baileys `src/Utils/generics.ts`), phones send 16-32 hex digits.
 */
const WEB_KEY_ID = /^[0-9A-F]{8,64}$/;

/**
 * The provider of a message that does not say it, only where it cannot be wrong:
 * - WhatsApp ids starting `wamid.` are the Cloud API's (it gives every message such an id, and no
 *   WhatsApp Web key id contains a dot);
 * - WhatsApp ids of upper-case hex are WhatsApp Web key ids (never a `wamid.`);
 * - SMS ids are GoHighLevel's, the one SMS provider onceflow receives live (a wrong guess here
 *   costs nothing: a key no live payload carries merely never matches);
 * - anything else is refused with a request to say `provider`, since guessing wrong between two live
 *   WhatsApp keys is exactly how a message gets stored twice.
 */
export function inferProvider(
  message: Pick<LegacyMessage, 'provider' | 'channel' | 'providerMessageId'>,
): { provider: ImportProvider } | { refused: string } {
  const { provider, channel, providerMessageId: pid } = message;
  if (provider) {
    const fits = provider === 'other' || (channel === 'sms') === (provider === 'ghl');
    return fits
      ? { provider }
      : { refused: `provider ${provider} does not send ${channel} messages` };
  }
  if (channel === 'sms') return { provider: 'ghl' };
  if (pid.startsWith('wamid.')) return { provider: 'cloud' };
  if (WEB_KEY_ID.test(pid)) return { provider: 'web' };
  return {
    refused: `cannot tell which WhatsApp provider id ${pid.slice(0, 40)} came from: add "provider": "cloud" or "web" (or "other")`,
  };
}

/** The dedupe key the live webhook of that provider gives this message. */
export function importKey(provider: ImportProvider, providerMessageId: string): string {
  return provider === 'other'
    ? legacyKey(providerMessageId)
    : messageKeys[provider](providerMessageId);
}

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
    const unclear = parsed.data.messages
      .map((m, index) => ({ index, inferred: inferProvider(m) }))
      .find((m) => 'refused' in m.inferred);
    if (unclear && 'refused' in unclear.inferred) {
      refused.push({
        line,
        legacyId: parsed.data.legacyId,
        reason: `messages.${unclear.index}: ${unclear.inferred.refused}`,
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
  /** Messages whose post-processing jobs were created (the rest are history: none). */
  readonly withJobs: number;
  readonly conversations: Set<string>;
}

/** Which imported messages get post-processing jobs. */
export type JobsPolicy = 'recent' | 'all' | 'none';
export const JOBS_POLICIES: readonly JobsPolicy[] = ['recent', 'all', 'none'];
/** `recent`: messages younger than this get their jobs, as if they had just arrived. */
export const RECENT_MS = 24 * 3600 * 1000;

export interface ImportOptions {
  readonly jobs: JobsPolicy;
  /** Now, on the target's clock. */
  readonly now: number;
}

type StoreFn = (
  deps: InboundDeps,
  message: Parameters<typeof import('../../functions/conversations/index.js').storeMessage>[1],
) => Promise<StoreResult>;

/** Writes the plan's messages through the live store code, one message at a time. */
export async function executeImport(
  plan: ImportPlan,
  store: StoreFn,
  deps: InboundDeps,
  options: ImportOptions,
  progress: (done: number) => void,
): Promise<ImportResult> {
  let written = 0;
  let alreadyThere = 0;
  let withJobs = 0;
  let done = 0;
  const conversations = new Set<string>();
  /** The newest message time of each conversation written to, for `lastMessageAt`. */
  const newest = new Map<string, { tenantId: string; at: string }>();
  for (const row of plan.ordered) {
    for (const message of row.conversation.messages) {
      const inferred = inferProvider(message);
      // parseLegacyLines refused every row with a message of unclear provider.
      if ('refused' in inferred) throw new Error(inferred.refused);
      const createdAt = new Date(message.createdAt).toISOString();
      const runJobs =
        options.jobs === 'all' ||
        (options.jobs === 'recent' && options.now - Date.parse(createdAt) < RECENT_MS);
      const result = await store(deps, {
        tenantId: row.conversation.tenantId,
        channel: message.channel,
        direction: message.direction,
        dedupeKey: importKey(inferred.provider, message.providerMessageId),
        providerMessageId: message.providerMessageId,
        body: message.body,
        createdAt,
        person: row.person,
        history: { runJobs },
        ...(row.conversation.name && message.direction === 'in'
          ? { profileName: row.conversation.name }
          : {}),
      });
      if (result.deduped) alreadyThere += 1;
      else {
        written += 1;
        if (runJobs && message.direction === 'in') withJobs += 1;
      }
      conversations.add(result.conversationId);
      const seen = newest.get(result.conversationId);
      if (!seen || seen.at < createdAt) {
        newest.set(result.conversationId, { tenantId: row.conversation.tenantId, at: createdAt });
      }
      done += 1;
      progress(done);
    }
  }
  // Also on a run that wrote nothing new: an earlier run that crashed here converges.
  for (const [conversationId, { tenantId, at }] of newest) {
    await advanceLastMessageAt(deps, tenantId, conversationId, at);
  }
  return { written, alreadyThere, withJobs, conversations };
}

/**
 * Leads named by the legacy system own their person's conversation, as `PUT /v1/leads` makes them:
 * each lead attached by the same domain call, after the messages are stored.
 */
export async function attachImportedLeads(
  plan: ImportPlan,
  deps: Pick<InboundDeps, 'ddb' | 'clock' | 'table'>,
): Promise<void> {
  const store = new DynamoDbConversationStore(deps.ddb, deps.table);
  for (const row of plan.ordered) {
    const { leadId, name } = row.conversation;
    if (!leadId || !row.person.e164) continue;
    await attachLead({ ...deps, store }, row.conversation.tenantId, leadId, {
      ...(name ? { name } : {}),
      phones: [row.person.e164],
    });
  }
}
