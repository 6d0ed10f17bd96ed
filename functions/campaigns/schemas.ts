/** Request bodies of the campaign routes (zod), shared by handlers and tests. */
import * as z from 'zod';
import { MAX_RECIPIENTS_PER_REQUEST, MAX_TEMPLATE_BYTES, RECIPIENT_STATUSES } from './model.js';

const recipient = z
  .object({
    phone: z.string().min(1).max(64),
    name: z.string().trim().max(200).optional(),
  })
  .strict();

export const recipientsSchema = z.array(recipient).max(MAX_RECIPIENTS_PER_REQUEST, {
  message: `at most ${MAX_RECIPIENTS_PER_REQUEST} recipients per request; add more with POST /v1/campaigns/{campaignId}/recipients`,
});

export const templateSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9_]{1,512}$/, 'must be a template name (lower case, digits, _)'),
    language: z
      .string()
      .regex(/^[a-z]{2,3}(_[A-Z]{2,3})?$/, 'must be a language code such as en_US'),
    components: z.array(z.record(z.string(), z.unknown())).max(20).optional(),
  })
  .strict()
  // The template is stored in the campaign's item: see MAX_TEMPLATE_BYTES for the arithmetic.
  .refine((template) => Buffer.byteLength(JSON.stringify(template), 'utf8') <= MAX_TEMPLATE_BYTES, {
    message: `must be at most ${MAX_TEMPLATE_BYTES} bytes (${MAX_TEMPLATE_BYTES / 1024} KiB) of JSON`,
  });

export const createCampaignSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    template: templateSchema,
    phoneNumberId: z.string().regex(/^[A-Za-z0-9_.:@-]{1,128}$/),
    recipients: recipientsSchema.default([]),
    skipInvalid: z.boolean().optional(),
  })
  .strict();

export const addRecipientsSchema = z
  .object({ recipients: recipientsSchema.min(1), skipInvalid: z.boolean().optional() })
  .strict();

export const listQuerySchema = z
  .object({
    status: z.enum(RECIPIENT_STATUSES).optional(),
    cursor: z.string().max(400).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
