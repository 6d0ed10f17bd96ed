/** The endpoints API's inputs, as zod schemas (the contract's field names). */
import * as z from '../kernel/zod.js';
import { DELIVERY_STATUSES } from './items.js';
import { EVENT_TYPES } from './model.js';

export const endpointBodySchema = z.strictObject({
  url: z.string().check(z.minLength(1), z.maxLength(2048)),
  eventTypes: z
    .array(z.union([z.literal('*'), z.enum(EVENT_TYPES)]))
    .check(z.minLength(1), z.maxLength(EVENT_TYPES.length + 1)),
  description: z.optional(z.string().check(z.maxLength(512))),
});

export const attemptsQuerySchema = z.object({
  status: z.optional(z.enum(DELIVERY_STATUSES)),
  cursor: z.optional(z.string()),
  limit: z.optional(z.string()),
});

export const replayBodySchema = z.strictObject({
  since: z.pipe(
    z.iso.datetime({ offset: true }),
    z.transform((s) => new Date(s).toISOString()),
  ),
});
