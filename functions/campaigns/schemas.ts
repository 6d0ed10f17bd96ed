/** Request bodies of the campaign routes (zod), shared by handlers and tests. */
import * as z from '../kernel/zod.js';
import { MAX_RECIPIENTS_PER_REQUEST, MAX_TEMPLATE_BYTES, RECIPIENT_STATUSES } from './model.js';

const recipient = z.strictObject({
  phone: z.string().check(z.minLength(1), z.maxLength(64)),
  name: z.optional(z.string().check(z.trim(), z.maxLength(200))),
});

export const recipientsSchema = z.array(recipient).check(
  z.maxLength(MAX_RECIPIENTS_PER_REQUEST, {
    message: `at most ${MAX_RECIPIENTS_PER_REQUEST} recipients per request; add more with POST /v1/campaigns/{campaignId}/recipients`,
  }),
);

export const templateSchema = z
  .strictObject({
    name: z
      .string()
      .check(z.regex(/^[a-z0-9_]{1,512}$/, 'must be a template name (lower case, digits, _)')),
    language: z
      .string()
      .check(z.regex(/^[a-z]{2,3}(_[A-Z]{2,3})?$/, 'must be a language code such as en_US')),
    components: z.optional(z.array(z.record(z.string(), z.unknown())).check(z.maxLength(20))),
  })
  .check(
    // The template is stored in the campaign's item: see MAX_TEMPLATE_BYTES for the arithmetic.
    z.refine(
      (template) => Buffer.byteLength(JSON.stringify(template), 'utf8') <= MAX_TEMPLATE_BYTES,
      {
        message: `must be at most ${MAX_TEMPLATE_BYTES} bytes (${MAX_TEMPLATE_BYTES / 1024} KiB) of JSON`,
      },
    ),
  );

export const createCampaignSchema = z.strictObject({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)),
  template: templateSchema,
  phoneNumberId: z.string().check(z.regex(/^[A-Za-z0-9_.:@-]{1,128}$/)),
  recipients: z._default(recipientsSchema, []),
  skipInvalid: z.optional(z.boolean()),
});

export const addRecipientsSchema = z.strictObject({
  recipients: recipientsSchema.check(z.minLength(1)),
  skipInvalid: z.optional(z.boolean()),
});

export const listQuerySchema = z.strictObject({
  status: z.optional(z.enum(RECIPIENT_STATUSES)),
  cursor: z.optional(z.string().check(z.maxLength(400))),
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(1000)), 100),
});
