/**
 * The one cursor codec: a listing's position (a DynamoDB key, or any small JSON value) as an opaque
 * base64url string, decoded with a zod schema so a forged or foreign cursor is a 400 naming
 * `cursor`, never a 5xx from DynamoDB ("The provided starting key is invalid").
 */
import * as z from 'zod';
import { InvalidRequestError } from './errors.js';

/**
 * Longer cursors are refused before decoding. Room for a key of four attributes each holding a few
 * 256-char client ids, in base64url.
 */
export const MAX_CURSOR_CHARS = 4096;

/** The opaque form of a position; `null` when there is no next page. */
export function encodeCursor(position: unknown): string | null {
  if (position === undefined || position === null) return null;
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

function invalidCursor(field: string): InvalidRequestError {
  return new InvalidRequestError('The cursor is not valid.', [
    { field, message: 'use a nextCursor returned by this listing' },
  ]);
}

/**
 * The position a cursor stands for, or undefined for no cursor (first page). Anything the schema
 * does not accept is a 400.
 */
export function decodeCursor<S extends z.ZodType>(
  raw: string | undefined,
  schema: S,
  field = 'cursor',
): z.output<S> | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(raw)) throw invalidCursor(field);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor(field);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidCursor(field);
  return parsed.data;
}

/**
 * A schema for a DynamoDB `LastEvaluatedKey` cursor: exactly these string attributes, some of them
 * pinned to the partition being listed (so one tenant's cursor cannot page another's listing).
 */
export function keyCursor(
  attributes: readonly string[],
  pinned: Readonly<Record<string, string>> = {},
) {
  const shape = Object.fromEntries(
    attributes.map((name) => [
      name,
      name in pinned ? z.literal(pinned[name] as string) : z.string().min(1).max(1024),
    ]),
  );
  return z.strictObject(shape);
}
