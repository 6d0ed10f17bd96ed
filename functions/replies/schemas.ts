/** The request bodies of the replies routes (api.md, "Replies"). */
import * as z from 'zod';
import { MESSAGE_CHANNELS } from '../conversations/index.js';
import { REPLY_SOURCES } from './items.js';

const replyFields = z.object({
  // WhatsApp's text limit is 4,096 characters; e-mail bodies may be longer (the 1 MiB body cap holds).
  body: z.string().max(65_536).default(''),
  channel: z.enum(MESSAGE_CHANNELS).optional(),
  template: z
    .object({
      name: z.string().min(1).max(512),
      language: z.string().min(2).max(15),
      components: z.array(z.unknown()).max(20).optional(),
    })
    .strict()
    .optional(),
  source: z.enum(REPLY_SOURCES).optional(),
  subject: z.string().max(998).optional(),
});

const bodyOrTemplate = {
  message: 'a reply needs a body or a template',
  path: ['body'],
};
const hasContent = (b: { body: string; template?: unknown }) =>
  b.body !== '' || b.template !== undefined;

export const replyBodySchema = replyFields.strict().refine(hasContent, bodyOrTemplate);

/** `POST /v1/messages`: the same body, plus whom it goes to. */
export const newMessageSchema = replyFields
  .extend({
    to: z.union([
      z.object({ phone: z.string().min(1).max(64) }).strict(),
      z.object({ leadId: z.string().min(1).max(256) }).strict(),
      z.object({ linkedin: z.string().min(1).max(256) }).strict(),
      z.object({ email: z.email().max(320) }).strict(),
    ]),
  })
  .strict()
  .refine(hasContent, bodyOrTemplate);
