/** Request schemas of the OCI routes (the contract's 1–256 character ids, one click id). */
import * as z from 'zod';
import { InvalidRequestError } from '../kernel/errors.js';
import type { HttpRequest } from '../kernel/http.js';

export const clientId = z.string().min(1).max(256);
/**
 * A click id as Google issues it (gclid, gbraid, wbraid): URL-safe base64 text, the letters,
 * digits, `-` and `_` of RFC 4648's base64url alphabet. Anything else is not a Google click id and
 * could carry a formula or a separator into the CSV export.
 */
const clickId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be a Google click id: 1-256 letters, digits, - or _');
const isoTime = z.iso.datetime({ offset: true });

export const callSchema = z
  .object({
    callId: clientId,
    sessionId: clientId,
    gclid: clickId.optional(),
    gbraid: clickId.optional(),
    wbraid: clickId.optional(),
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
            /**
             * `uploaded`: handed to Google's bulk upload, whose per-row result the script cannot
             * read; `completed` / `failed` only from Google's per-row answer.
             */
            status: z.enum(['completed', 'failed', 'retry', 'uploaded']),
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
      .enum(['queued', 'processing', 'retry', 'completed', 'failed', 'withdrawn', 'uploaded'])
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
