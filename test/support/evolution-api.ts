/**
 * Evolution API's own definitions of what onceflow sends it and what it answers, written from its
 * source (EvolutionAPI/evolution-api @ 3454bec) as zod schemas, so tests check the reply channel's
 * requests and the simulator's answers against the provider rather than against each other:
 *
 * - `textMessageSchema` (`src/validate/message.schema.ts`): `number` (string) and `text` (string)
 *   required; `linkPreview`, `delay` (integer ms), `quoted`, `everyOne`, `mentioned` optional.
 *   The JSON-Schema there does not forbid extra properties, but `SendTextDto` has no other field
 *   (`src/api/dto/sendMessage.dto.ts`), so anything else would be ignored: refused here.
 * - the `sendText` answer: the `WAMessage` `sendMessageWithTyping` returns (Baileys' `proto.
 *   IWebMessageInfo`): `key {remoteJid, fromMe, id}`, `message`, `messageTimestamp`, `status`.
 * - the `findMessages` answer (`fetchMessages`, `src/api/services/channel.service.ts`).
 * - the `messages.upsert` webhook body (`src/api/integrations/event/webhook/webhook.controller.ts`
 *   posts `{event, instance, data, destination, date_time, sender, server_url, apikey}`).
 */
import * as z from 'zod';

export const textMessageBody = z
  .object({
    number: z.string(),
    text: z.string(),
    linkPreview: z.boolean().optional(),
    delay: z.number().int().optional(),
    quoted: z.object({ key: z.object({ id: z.string().min(1) }).passthrough() }).optional(),
    everyOne: z.boolean().optional(),
    mentioned: z.array(z.string().regex(/^\d+/)).min(1).optional(),
  })
  .strict();

const messageKey = z.object({
  remoteJid: z.string(),
  fromMe: z.boolean(),
  id: z.string().min(1),
});

export const sendTextAnswer = z.object({
  key: messageKey,
  message: z.object({ conversation: z.string() }).passthrough(),
  messageTimestamp: z.union([z.number().int(), z.string()]),
  status: z.string().optional(),
});

export const findMessagesAnswer = z.object({
  messages: z.object({
    total: z.number().int(),
    pages: z.number().int(),
    currentPage: z.number().int(),
    records: z.array(
      z.object({
        key: messageKey,
        message: z.record(z.string(), z.unknown()),
        messageTimestamp: z.union([z.number().int(), z.string()]),
      }),
    ),
  }),
});

export const upsertWebhook = z.object({
  event: z.literal('messages.upsert'),
  instance: z.string(),
  data: z.object({
    key: messageKey,
    message: z.record(z.string(), z.unknown()),
    messageTimestamp: z.union([z.number().int(), z.string()]),
  }),
});
