/**
 * Events of a Baileys-based WhatsApp Web gateway in the Evolution API v2 shape. `messages.upsert`
 * (and `send.message`, Evolution's copy of a message sent through its API) carry messages; every
 * other event is acknowledged and ignored.
 *
 * `remoteJid` is the chat: a phone JID, an `@lid`, or a group (`@g.us`, whose sender is
 * `participant`). The other form of the same person arrives under a name that depends on the
 * versions deployed, and every one of them links an `@lid` to a phone:
 * - Baileys 7 (`WhiskeySockets/Baileys` `src/Utils/decode-wa-message.ts`): `remoteJidAlt` (1:1) and
 *   `participantAlt` (groups), with `addressingMode` `lid` | `pn`;
 * - Baileys 6.7.x (`src/Types/Message.ts` at v6.7.23): `senderPn` / `senderLid` (1:1) and
 *   `participantPn` / `participantLid` (groups);
 * - Evolution API 2.3.1-2.3.4 (`src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts`)
 *   rewrote a `@lid` `remoteJid` to `senderPn` and kept the `@lid` in `previousRemoteJid`.
 * `sender*` and `participant*` describe the author; on the business's own (`fromMe`) messages that
 * is the business, so only the chat's ids name the person there, and any id equal to the instance's
 * own number (the envelope's `sender`) is never taken for the person's.
 *
 * When a group message has no pushName, Evolution fills it with the participant's id digits
 * (`prepareMessage`: `key.participant.split('@')[0]`): a pushName that is only an id's digits is
 * not a name and is dropped.
 */
import type { InboundDeps } from '../conversations/index.js';
import { parseWhatsAppId } from '../conversations/index.js';
import { parseWith } from '../kernel/http.js';
import * as z from '../kernel/zod.js';
import { instanceNameSchema, type Tenant } from '../tenants/index.js';
import { fileMessageFrom } from './file-message.js';
import { messageKeys } from './items.js';
import { type OutcomeCounts, OutcomeTally } from './outcomes.js';
import { providerId as id, providerText as text } from './payload-fields.js';
import { providerTime } from './provider-time.js';

/** An optional id may arrive empty (`"participant": ""` on a 1:1 chat): empty is absent. */
const optionalId = z.nullable(z.optional(z.string().check(z.maxLength(256))));
const keySchema = z.looseObject({
  remoteJid: id,
  remoteJidAlt: optionalId,
  participant: optionalId,
  participantAlt: optionalId,
  senderPn: optionalId,
  senderLid: optionalId,
  participantPn: optionalId,
  participantLid: optionalId,
  previousRemoteJid: optionalId,
  fromMe: z.nullable(z.optional(z.boolean())),
  id,
});

const upsertSchema = z.looseObject({
  key: keySchema,
  pushName: z.nullable(z.optional(z.string().check(z.maxLength(512)))),
  message: z.nullable(
    z.optional(
      z.looseObject({
        conversation: z.nullable(z.optional(text)),
        extendedTextMessage: z.nullable(
          z.optional(z.looseObject({ text: z.nullable(z.optional(text)) })),
        ),
        imageMessage: z.nullable(
          z.optional(z.looseObject({ caption: z.nullable(z.optional(text)) })),
        ),
        videoMessage: z.nullable(
          z.optional(z.looseObject({ caption: z.nullable(z.optional(text)) })),
        ),
        documentMessage: z.nullable(
          z.optional(z.looseObject({ caption: z.nullable(z.optional(text)) })),
        ),
      }),
    ),
  ),
  messageType: z.nullable(z.optional(z.string().check(z.maxLength(64)))),
  messageTimestamp: z.nullable(
    z.optional(
      z.union([
        z.number(),
        z.string().check(z.maxLength(20)),
        z.looseObject({ low: z.number(), high: z.optional(z.number()) }),
      ]),
    ),
  ),
});

export const gatewayEnvelopeSchema = z.looseObject({
  event: z.string().check(z.minLength(1), z.maxLength(128)),
  instance: instanceNameSchema,
  /** The instance's own WhatsApp id (`<digits>@s.whatsapp.net`), when Evolution sends it. */
  sender: z.nullable(z.optional(z.string().check(z.maxLength(256)))),
  data: z.optional(z.unknown()),
});

/**
 * Evolution's events (`Events` in `src/api/types/wa.types.ts`, EvolutionAPI/evolution-api 2.3.6).
 * In "webhook by events" mode each is posted to `<url>/<path>`, the path being the event name with
 * `.` and `_` turned into `-` (`WebhookController.emit`: `messages.upsert` → `messages-upsert`,
 * `group-participants.update` → `group-participants-update`). A path not in this list is 404, as
 * for any unknown route (Evolution treats a 404 as final and drops the event, so only paths
 * Evolution never uses may answer it).
 */
export const EVOLUTION_EVENTS = [
  'application.startup',
  'instance.create',
  'instance.delete',
  'qrcode.updated',
  'connection.update',
  'status.instance',
  'messages.set',
  'messages.upsert',
  'messages.edited',
  'messages.update',
  'messages.delete',
  'send.message',
  'send.message.update',
  'contacts.set',
  'contacts.upsert',
  'contacts.update',
  'presence.update',
  'chats.set',
  'chats.update',
  'chats.upsert',
  'chats.delete',
  'groups.upsert',
  'groups.update',
  'group-participants.update',
  'call',
  'typebot.start',
  'typebot.change-status',
  'labels.edit',
  'labels.association',
  'creds.update',
  'messaging-history.set',
  'remove.instance',
  'logout.instance',
] as const;

/** The path segment Evolution appends for an event (`messages.upsert` → `messages-upsert`). */
export function evolutionEventPath(event: string): string {
  return event.replace(/[._]/g, '-').toLowerCase();
}

const EVENT_PATHS: ReadonlySet<string> = new Set(EVOLUTION_EVENTS.map(evolutionEventPath));

/** True when `segment` is a path Evolution posts some event to. */
export function isEvolutionEventPath(segment: string): boolean {
  return EVENT_PATHS.has(segment.toLowerCase());
}

export const upsertDataSchema = z.union([
  upsertSchema,
  z.array(upsertSchema).check(z.minLength(1), z.maxLength(100)),
]);

/**
 * `data` of a `messages.upsert`: one message or a list of them. Validated against the one shape it
 * has, so a 400 names the bad field (`data.key.remoteJid`, `data.3.key.id`) rather than "(body)".
 */
export function parseUpsertData(data: unknown): UpsertData {
  const shape = Array.isArray(data)
    ? z.array(upsertSchema).check(z.minLength(1), z.maxLength(100))
    : upsertSchema;
  return parseWith(z.looseObject({ data: shape }), { data }).data;
}

/** Status updates ("stories") are not messages to the business. */
const STATUS_BROADCAST = 'status@broadcast';

/** Words a person would see for a message without text: `[audio]`, `[sticker]`, `[location]`. */
function placeholder(item: { messageType?: string | null; message?: object | null }): string {
  const type =
    item.messageType ??
    Object.keys(item.message ?? {}).find(
      (k) => k !== 'messageContextInfo' && k.endsWith('Message'),
    ) ??
    'message';
  const word = type.replace(/Message$/, '').replace(/[^A-Za-z0-9_]/g, '');
  return `[${word || 'message'}]`;
}

export type UpsertData = z.output<typeof upsertDataSchema>;

/**
 * `MESSAGES_UPSERT`, `messages.upsert` and `messages-upsert` are the same event; so are the forms of
 * `send.message`, which carries the same message shape (`prepareMessage`) for a message sent
 * through Evolution's API.
 */
export function carriesMessages(event: string): boolean {
  const path = evolutionEventPath(event);
  return path === 'messages-upsert' || path === 'send-message';
}

/** The pushName, unless it is only digits: Evolution's fallback of an id's digits is no name. */
function realPushName(pushName: string | null | undefined): string | undefined {
  const name = pushName?.trim();
  return name && !/^\+?[\d\s]+$/.test(name) ? name : undefined;
}

/** What one id stands for (a phone or an alias), to compare two ids of any form. */
function identityOf(raw: unknown): string | undefined {
  const parsed = parseWhatsAppId(raw);
  if (!parsed || parsed.kind === 'group') return undefined;
  return parsed.kind === 'phone' ? parsed.e164 : parsed.alias;
}

export async function receiveGatewayMessages(
  deps: InboundDeps,
  tenant: Tenant,
  data: UpsertData,
  options: { readonly ownId?: string | null } = {},
): Promise<OutcomeCounts> {
  const own = identityOf(options.ownId);
  const notOwn = (raw: unknown) => own === undefined || identityOf(raw) !== own;
  const items = Array.isArray(data) ? data : [data];
  const tally = new OutcomeTally('whatsapp_web');
  for (const item of items) {
    const { key } = item;
    if (key.remoteJid.trim().toLowerCase() === STATUS_BROADCAST) {
      tally.record('unroutable', 'status_broadcast', { tenantId: tenant.tenantId });
      continue;
    }
    const chat = parseWhatsAppId(key.remoteJid);
    const fromMe = key.fromMe === true;
    const inGroup = chat?.kind === 'group';
    if (inGroup && fromMe) {
      // The business's own group messages name nobody to file them under.
      tally.record('unroutable', 'own_group_message', { tenantId: tenant.tenantId });
      continue;
    }
    // In a group the person is the participant. The chat's ids come first (the first phone wins), then the author's, which on a `fromMe`
    // message are the business's own and so are left out.
    const ids = (
      inGroup
        ? [key.participant, key.participantAlt, key.participantPn, key.participantLid]
        : [
            key.remoteJid,
            key.remoteJidAlt,
            key.previousRemoteJid,
            ...(fromMe ? [] : [key.senderPn, key.senderLid, key.participant]),
          ]
    ).filter(notOwn);
    const name = realPushName(item.pushName);
    await fileMessageFrom(deps, tally, tenant, ids, () => {
      const body =
        item.message?.conversation ??
        item.message?.extendedTextMessage?.text ??
        item.message?.imageMessage?.caption ??
        item.message?.videoMessage?.caption ??
        item.message?.documentMessage?.caption ??
        placeholder(item);
      return {
        channel: 'whatsapp',
        direction: fromMe ? 'out' : 'in',
        dedupeKey: messageKeys.web(key.id),
        providerMessageId: key.id,
        body,
        createdAt: providerTime(item.messageTimestamp, deps.clock.now()),
        ...(!fromMe && name ? { profileName: name } : {}),
        ...(inGroup && chat.kind === 'group' ? { groupId: chat.groupId } : {}),
      };
    });
  }
  return tally.totals();
}
