/** Request shapes of the ledger routes (zod), and the path and query checks they share. */
import * as z from 'zod';
import { InvalidRequestError } from '../kernel/errors.js';
import type { HttpRequest } from '../kernel/http.js';
import { parsePageLimit } from '../kernel/page-limit.js';
import { CONVERSION_SOURCES, type ConversionSource, LEDGER_ID, LEDGER_ID_RULE } from './model.js';
import { MAX_VALIDATE_USERS } from './validation.js';

export const ledgerId = z.string().regex(LEDGER_ID, LEDGER_ID_RULE);

/** `Date` rolls 2026-02-30 over to March; a time naming a day that does not exist is refused. */
function calendarDate(s: string): boolean {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** ISO-8601 with a zone, normalised to `toISOString()` so times compare as strings. */
const isoTime = z
  .string()
  .max(64)
  .refine((s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(s), {
    message: 'must be an ISO-8601 time with a zone, e.g. 2026-11-22T05:19:55.000Z',
    abort: true,
  })
  .refine(calendarDate, { message: 'must be a real calendar date', abort: true })
  .transform((s) => new Date(s))
  .refine(
    (d) => !Number.isNaN(d.getTime()) && d.getUTCFullYear() >= 2000 && d.getUTCFullYear() < 3000,
    {
      message: 'must be a valid time between the years 2000 and 2999',
    },
  )
  .transform((d) => d.toISOString());

export const eventBody = z
  .object({ type: ledgerId, occurredAt: isoTime, eventId: ledgerId.optional() })
  .strict();

export const removeBody = z.object({ reason: z.string().trim().min(1).max(256) }).strict();

export const validateBody = z
  .object({
    userIds: z.array(ledgerId).min(1).max(MAX_VALIDATE_USERS),
  })
  .strict();

/** A path parameter that is a ledger id (user id, queue type): 1–256 characters, else 400. */
export function ledgerPathParam(request: HttpRequest, name: string): string {
  const value = request.pathParameters[name];
  if (value === undefined || !LEDGER_ID.test(value)) {
    throw new InvalidRequestError(`The path parameter ${name} is not valid.`, [
      { field: name, message: LEDGER_ID_RULE },
    ]);
  }
  return value;
}

/** Items a ledger listing page holds at most (and by default). */
export const MAX_LEDGER_PAGE = 100;

/** `?limit=`: 1–100, default 100. */
export function pageLimitQuery(request: HttpRequest): number {
  return parsePageLimit(request.query.limit, { fallback: MAX_LEDGER_PAGE, max: MAX_LEDGER_PAGE });
}

export function conversionQuery(request: HttpRequest): {
  userId?: string;
  type?: string;
  source?: ConversionSource;
  cursor?: string;
  limit: number;
} {
  const parsed = z
    .object({
      userId: ledgerId.optional(),
      type: ledgerId.optional(),
      source: z.enum(CONVERSION_SOURCES as [ConversionSource, ...ConversionSource[]]).optional(),
      cursor: z.string().min(1).max(4096).optional(),
      limit: z.string().optional(),
    })
    .strict()
    .safeParse(request.query);
  if (!parsed.success) {
    throw new InvalidRequestError(
      'The query is not valid.',
      parsed.error.issues.map((i) => ({
        field: i.path.join('.') || (i.code === 'unrecognized_keys' ? i.keys.join(',') : '(query)'),
        message: i.message,
      })),
    );
  }
  const q = parsed.data;
  return {
    ...(q.userId !== undefined ? { userId: q.userId } : {}),
    ...(q.type !== undefined ? { type: q.type } : {}),
    ...(q.source !== undefined ? { source: q.source } : {}),
    ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
    limit: pageLimitQuery(request),
  };
}

export function cursorQuery(request: HttpRequest): string | undefined {
  const cursor = request.query.cursor;
  if (cursor === undefined) return undefined;
  if (cursor.length === 0 || cursor.length > 4096) {
    throw new InvalidRequestError('The cursor is not valid.', [
      { field: 'cursor', message: 'must be a nextCursor from this listing' },
    ]);
  }
  return cursor;
}
