/**
 * Events of a Baileys-based WhatsApp Web gateway in the Evolution API v2 shape. Only
 * `messages.upsert` carries messages; every other event is acknowledged and ignored.
 *
 * `remoteJid` is the chat: a phone JID, an `@lid`, or a group (`@g.us`, whose sender is
 * `participant`). `remoteJidAlt` / `participantAlt` carry the other form of the same person, which
 * is how an `@lid` gets linked to a phone. `fromMe` messages are the business's own, filed as
 * outbound in the same person's conversation.
 */
import * as z from 'zod';
import type { InboundDeps } from '../conversations/index.js';
import { parseWhatsAppId } from '../conversations/index.js';
import { parseWith } from '../kernel/http.js';
import type { Tenant } from '../tenants/index.js';
import { fileMessageFrom } from './file-message.js';
import { messageKeys } from './message-keys.js';
import { type OutcomeCounts, OutcomeTally } from './outcomes.js';
import { providerId as id, providerText as text } from './payload-fields.js';
import { providerTime } from './provider-time.js';

const keySchema = z.looseObject({
  remoteJid: id,
  remoteJidAlt: id.optional().nullable(),
  participant: id.optional().nullable(),
  participantAlt: id.optional().nullable(),
  fromMe: z.boolean().optional(),
  id,
});

const upsertSchema = z.looseObject({
  key: keySchema,
  pushName: z.string().max(512).optional().nullable(),
  message: z
    .looseObject({
      conversation: text.optional().nullable(),
      extendedTextMessage: z
        .looseObject({ text: text.optional().nullable() })
        .optional()
        .nullable(),
      imageMessage: z.looseObject({ caption: text.optional().nullable() }).optional().nullable(),
      videoMessage: z.looseObject({ caption: text.optional().nullable() }).optional().nullable(),
      documentMessage: z.looseObject({ caption: text.optional().nullable() }).optional().nullable(),
    })
    .optional()
    .nullable(),
  messageType: z.string().max(64).optional().nullable(),
  messageTimestamp: z
    .union([
      z.number(),
      z.string().max(20),
      z.looseObject({ low: z.number(), high: z.number().optional() }),
    ])
    .optional()
    .nullable(),
});

export const gatewayEnvelopeSchema = z.looseObject({
  event: z.string().min(1).max(128),
  instance: z.string().regex(/^[A-Za-z0-9_.:@-]{1,128}$/),
  data: z.unknown().optional(),
});

export const upsertDataSchema = z.union([upsertSchema, z.array(upsertSchema).min(1).max(100)]);

/**
 * `data` of a `messages.upsert`: one message or a list of them. Validated against the one shape it
 * has, so a 400 names the bad field (`data.key.remoteJid`, `data.3.key.id`) rather than "(body)".
 */
export function parseUpsertData(data: unknown): UpsertData {
  const shape = Array.isArray(data) ? z.array(upsertSchema).min(1).max(100) : upsertSchema;
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

/** `MESSAGES_UPSERT`, `messages.upsert` and `messages-upsert` are the same event. */
export function isMessagesUpsert(event: string): boolean {
  return event.toLowerCase().replace(/[_-]/g, '.') === 'messages.upsert';
}

export async function receiveGatewayMessages(
  deps: InboundDeps,
  tenant: Tenant,
  data: UpsertData,
): Promise<OutcomeCounts> {
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
    // In a group the person is the participant; the business's own group messages name nobody.
    const ids = inGroup
      ? [key.participant, key.participantAlt]
      : [key.remoteJid, key.remoteJidAlt, key.participant];
    await fileMessageFrom(deps, tally, tenant, ids, () => {
      if (inGroup && fromMe) return { unroutable: 'own_group_message' };
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
        ...(!fromMe && item.pushName ? { profileName: item.pushName } : {}),
        ...(inGroup && chat.kind === 'group' ? { groupId: chat.groupId } : {}),
      };
    });
  }
  return tally.totals();
}
