/** The request bodies of the replies routes (api.md, "Replies"). */
import { MESSAGE_CHANNELS } from '../conversations/index.js';
import * as z from '../kernel/zod.js';
import { REPLY_SOURCES } from './items.js';

/** The fields of a reply (both routes refuse any other: strict objects). */
const replyFields = {
  // WhatsApp's text limit is 4,096 characters; e-mail bodies may be longer (the 1 MiB body cap holds).
  body: z._default(z.string().check(z.maxLength(65_536)), ''),
  channel: z.optional(z.enum(MESSAGE_CHANNELS)),
  template: z.optional(
    z.strictObject({
      name: z.string().check(z.minLength(1), z.maxLength(512)),
      language: z.string().check(z.minLength(2), z.maxLength(15)),
      components: z.optional(z.array(z.unknown()).check(z.maxLength(20))),
    }),
  ),
  source: z.optional(z.enum(REPLY_SOURCES)),
  subject: z.optional(z.string().check(z.maxLength(998))),
};

const bodyOrTemplate = {
  message: 'a reply needs a body or a template',
  path: ['body'],
};
const hasContent = (b: { body: string; template?: unknown }) =>
  b.body !== '' || b.template !== undefined;

export const replyBodySchema = z
  .strictObject(replyFields)
  .check(z.refine(hasContent, bodyOrTemplate));

/** `POST /v1/messages`: the same body, plus whom it goes to. */
export const newMessageSchema = z
  .strictObject({
    ...replyFields,
    to: z.union([
      z.strictObject({ phone: z.string().check(z.minLength(1), z.maxLength(64)) }),
      z.strictObject({ leadId: z.string().check(z.minLength(1), z.maxLength(256)) }),
      z.strictObject({ linkedin: z.string().check(z.minLength(1), z.maxLength(256)) }),
      z.strictObject({ email: z.email().check(z.maxLength(320)) }),
    ]),
  })
  .check(z.refine(hasContent, bodyOrTemplate));
