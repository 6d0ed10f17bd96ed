/** Request schemas of the OCI routes (the contract's 1–256 character ids, one click id). */
import { InvalidRequestError } from '../kernel/errors.js';
import type { HttpRequest } from '../kernel/http.js';
import * as z from '../kernel/zod.js';

export const clientId = z.string().check(z.minLength(1), z.maxLength(256));
/**
 * A click id as Google issues it (gclid, gbraid, wbraid): URL-safe base64 text, the letters,
 * digits, `-` and `_` of RFC 4648's base64url alphabet. Anything else is not a Google click id and
 * could carry a formula or a separator into the CSV export.
 */
const clickId = z
  .string()
  .check(
    z.regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be a Google click id: 1-256 letters, digits, - or _'),
  );
const isoTime = z.iso.datetime({ offset: true });

export const callSchema = z
  .strictObject({
    callId: clientId,
    sessionId: clientId,
    gclid: z.optional(clickId),
    gbraid: z.optional(clickId),
    wbraid: z.optional(clickId),
    source: z.literal('click'),
    occurredAt: isoTime,
  })
  .check(
    z.superRefine((body, ctx) => {
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
    }),
  );

export const sealSchema = z.strictObject({
  conversionName: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  value: z.number().check(z.gte(0), z.lte(1e12)),
  currency: z.string().check(z.regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')),
  conversionTime: isoTime,
});

export const exportQuerySchema = z.strictObject({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(2000)), 500),
  format: z._default(z.enum(['json', 'csv']), 'json'),
  kind: z._default(z.enum(['conversions', 'adjustments']), 'conversions'),
});

export const ackSchema = z.strictObject({
  kind: z._default(z.enum(['conversions', 'adjustments']), 'conversions'),
  results: z
    .array(
      z.strictObject({
        orderId: clientId,
        /**
         * `uploaded`: handed to Google's bulk upload, whose per-row result the script cannot
         * read; `completed` / `failed` only from Google's per-row answer.
         */
        status: z.enum(['completed', 'failed', 'retry', 'uploaded']),
        error: z.optional(
          z.string().check(z.regex(/^[A-Z0-9_]{1,128}$/, "must be Google's error code")),
        ),
      }),
    )
    .check(z.maxLength(2000)),
});

export const listQuerySchema = z.strictObject({
  status: z.optional(
    z.enum(['queued', 'processing', 'retry', 'completed', 'failed', 'withdrawn', 'uploaded']),
  ),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});

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
