/** Request shapes of the ledger routes (zod), and the path and query checks they share. */
import { InvalidRequestError } from '../kernel/errors.js';
import type { HttpRequest } from '../kernel/http.js';
import { parsePageLimit } from '../kernel/page-limit.js';
import * as z from '../kernel/zod.js';
import { CONVERSION_SOURCES, type ConversionSource, LEDGER_ID, LEDGER_ID_RULE } from './model.js';
import { MAX_VALIDATE_USERS } from './validation.js';

export const ledgerId = z.string().check(z.regex(LEDGER_ID, LEDGER_ID_RULE));

/** `Date` rolls 2026-02-30 over to March; a time naming a day that does not exist is refused. */
function calendarDate(s: string): boolean {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** ISO-8601 with a zone, normalised to `toISOString()` so times compare as strings. */
const isoTime = z.pipe(
  z
    .pipe(
      z.string().check(
        z.maxLength(64),
        z.refine((s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(s), {
          message: 'must be an ISO-8601 time with a zone, e.g. 2026-11-22T05:19:55.000Z',
          abort: true,
        }),
        z.refine(calendarDate, { message: 'must be a real calendar date', abort: true }),
      ),
      z.transform((s) => new Date(s)),
    )
    .check(
      z.refine(
        (d) =>
          !Number.isNaN(d.getTime()) && d.getUTCFullYear() >= 2000 && d.getUTCFullYear() < 3000,
        {
          message: 'must be a valid time between the years 2000 and 2999',
        },
      ),
    ),
  z.transform((d) => d.toISOString()),
);

export const eventBody = z.strictObject({
  type: ledgerId,
  occurredAt: isoTime,
  eventId: z.optional(ledgerId),
});

export const removeBody = z.strictObject({
  reason: z.string().check(z.trim(), z.minLength(1), z.maxLength(256)),
});

export const validateBody = z.strictObject({
  userIds: z.array(ledgerId).check(z.minLength(1), z.maxLength(MAX_VALIDATE_USERS)),
});

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
    .strictObject({
      userId: z.optional(ledgerId),
      type: z.optional(ledgerId),
      source: z.optional(z.enum(CONVERSION_SOURCES as [ConversionSource, ...ConversionSource[]])),
      cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(4096))),
      limit: z.optional(z.string()),
    })
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
