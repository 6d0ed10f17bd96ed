/**
 * GoHighLevel's own definitions of the calls the SMS reply channel makes, written as zod schemas
 * from its OpenAPI documents (GoHighLevel/highlevel-api-docs @ 0af86a4): `apps/conversations.json`
 * (`SendMessageBodyDto`, `SendMessageResponseDto`, `GetMessagesByConversationResponseDto`,
 * `GetMessageResponseDto`) and the `OutboundMessage` webhook schema
 * (marketplace.gohighlevel.com/docs/webhook/OutboundMessage). Tests check the channel's requests and
 * the simulator's answers against them.
 *
 * `SendMessageBodyDto` lists `subType` and `status` as required beside `type` and `contactId`, but
 * both are undocumented objects/values for an SMS (and every published client sends SMS without
 * them): only `type` and `contactId` are required here.
 */
import * as z from 'zod';

export const MESSAGE_TYPES = [
  'SMS',
  'RCS',
  'Email',
  'WhatsApp',
  'IG',
  'FB',
  'Custom',
  'Live_Chat',
  'TIKTOK',
] as const;

/** The fields of `SendMessageBodyDto` (any other is not part of the API). */
export const sendMessageBody = z
  .object({
    type: z.enum(MESSAGE_TYPES),
    subType: z.unknown().optional(),
    contactId: z.string(),
    appointmentId: z.string().optional(),
    attachments: z.array(z.string()).optional(),
    emailFrom: z.string().optional(),
    emailCc: z.array(z.string()).optional(),
    emailBcc: z.array(z.string()).optional(),
    html: z.string().optional(),
    message: z.string().optional(),
    subject: z.string().optional(),
    replyMessageId: z.string().optional(),
    templateId: z.string().optional(),
    threadId: z.string().optional(),
    scheduledTimestamp: z.number().optional(),
    conversationProviderId: z.string().optional(),
    emailTo: z.string().optional(),
    customSubtypeId: z.string().optional(),
    emailReplyMode: z.string().optional(),
    fromNumber: z.string().optional(),
    toNumber: z.string().optional(),
    forward: z.unknown().optional(),
    status: z.enum(['delivered', 'failed', 'pending', 'read']).optional(),
    usesNativeSchedulingAi: z.boolean().optional(),
    optimizationPeriod: z.unknown().optional(),
  })
  .strict();

export const sendMessageAnswer = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  emailMessageId: z.string().optional(),
  messageIds: z.array(z.string()).optional(),
  msg: z.string().optional(),
  status: z.enum(['delivered', 'failed', 'pending', 'read']),
});

export const getMessage = z.object({
  id: z.string(),
  type: z.number(),
  messageType: z.string(),
  locationId: z.string(),
  contactId: z.string(),
  conversationId: z.string(),
  dateAdded: z.string(),
  body: z.string().optional(),
  direction: z.enum(['inbound', 'outbound']),
  status: z.string().optional(),
  contentType: z.string(),
});

export const messagesByConversation = z.object({
  messages: z.object({
    lastMessageId: z.string(),
    nextPage: z.boolean(),
    messages: z.array(getMessage),
  }),
});

export const outboundMessageWebhook = z.object({
  type: z.literal('OutboundMessage'),
  locationId: z.string(),
  attachments: z.array(z.unknown()).optional(),
  body: z.string().optional(),
  contactId: z.string(),
  contentType: z.string().optional(),
  conversationId: z.string(),
  dateAdded: z.string(),
  direction: z.string(),
  messageType: z.string(),
  messageId: z.string(),
  status: z.string().optional(),
  source: z.string().optional(),
});
