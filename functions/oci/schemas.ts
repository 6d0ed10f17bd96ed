/** Request schemas of the OCI routes (the contract's 1–256 character ids, one click id). */
import * as z from 'zod';
import { InvalidRequestError } from '../kernel/errors.js';
import type { HttpRequest } from '../kernel/http.js';

export const clientId = z.string().min(1).max(256);
const isoTime = z.iso.datetime({ offset: true });

export const callSchema = z
  .object({
    callId: clientId,
    sessionId: clientId,
    gclid: clientId.optional(),
    gbraid: clientId.optional(),
    wbraid: clientId.optional(),
    source: z.literal('click'),
    occurredAt: isoTime,
  })
  .strict()
  .superRefine((body, ctx) => {
    const given = (['gclid', 'gbraid', 'wbraid'] as const).filter((k) => body[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: given.length === 0 ? ['gclid'] : [given.join('+')],
        message:
          given.length === 0
            ? 'exactly one of gclid, gbraid, wbraid is required'
            : 'give exactly one of gclid, gbraid, wbraid (GBRAID_WBRAID_BOTH_SET)',
      });
    }
  });

export const sealSchema = z
  .object({
    conversionName: z.string().min(1).max(256).optional(),
    value: z.number().finite().min(0).max(1e12),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
    conversionTime: isoTime,
  })
  .strict();

export const exportQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(2000).default(500),
    format: z.enum(['json', 'csv']).default('json'),
    kind: z.enum(['conversions', 'adjustments']).default('conversions'),
  })
  .strict();

export const ackSchema = z
  .object({
    kind: z.enum(['conversions', 'adjustments']).default('conversions'),
    results: z
      .array(
        z
          .object({
            orderId: clientId,
            status: z.enum(['completed', 'failed', 'retry']),
            error: z
              .string()
              .regex(/^[A-Z0-9_]{1,128}$/, "must be Google's error code")
              .optional(),
          })
          .strict(),
      )
      .max(2000),
  })
  .strict();

export const listQuerySchema = z
  .object({
    status: z
      .enum(['queued', 'processing', 'retry', 'completed', 'failed', 'withdrawn'])
      .optional(),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

/** A path id: 1–256 characters as the contract says, no control characters. */
export function idParam(request: HttpRequest, name: string): string {
  const value = request.pathParameters[name];
  if (!value || value.length > 256 || [...value].some((c) => c.charCodeAt(0) < 32)) {
    throw new InvalidRequestError(`The path parameter ${name} is not valid.`, [
      { field: name, message: 'must be 1-256 characters' },
    ]);
  }
  return value;
}
