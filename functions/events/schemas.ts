/** The endpoints API's inputs, as zod schemas (the contract's field names). */
import * as z from 'zod';
import { DELIVERY_STATUSES } from './items.js';
import { EVENT_TYPES } from './model.js';

export const endpointBodySchema = z.strictObject({
  url: z.string().min(1).max(2048),
  eventTypes: z
    .array(z.union([z.literal('*'), z.enum(EVENT_TYPES)]))
    .min(1)
    .max(EVENT_TYPES.length + 1),
  description: z.string().max(512).optional(),
});

export const attemptsQuerySchema = z.object({
  status: z.enum(DELIVERY_STATUSES).optional(),
  cursor: z.string().optional(),
  limit: z.string().optional(),
});

export const replayBodySchema = z.strictObject({
  since: z.iso.datetime({ offset: true }).transform((s) => new Date(s).toISOString()),
});
