/**
 * The one cursor codec: a listing's position (a DynamoDB key, or any small JSON value) as an opaque
 * base64url string, bound to the query it is a position in, and decoded with a zod schema, so a
 * forged or foreign cursor is a 400 naming `cursor`, never a 5xx from DynamoDB ("The provided
 * starting key is invalid").
 *
 * **Bound to its query.** A cursor carries a tag of its *scope*: everything that makes the listing
 * what it is (route, tenant, partition, sort-key prefix, index, filters, direction; not the page
 * size). Decoding under another scope is a 400, so the `nextCursor` of
 * `GET /v1/conversions?userId=U` reused with `&type=X` (a start key outside the new sort-key
 * prefix, which DynamoDB refuses), or a cursor of another tenant, campaign or filter, never reaches
 * DynamoDB. The tag is a digest, not a secret: a client can still forge a matching cursor around a
 * made-up key, which is why the schema pins the partition and `queryPage` answers DynamoDB's own
 * refusal of a start key as the same 400.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { InvalidRequestError } from './errors.js';
import * as z from './zod.js';

/**
 * Longer cursors are refused before decoding. Room for a key of four attributes each holding a few
 * 256-char client ids, in base64url, with the scope tag.
 */
export const MAX_CURSOR_CHARS = 4096;

/**
 * DynamoDB's key size limits, in UTF-8 bytes: a partition key value ≤ 2,048, a sort key value
 * ≤ 1,024. A forged key attribute longer than that is refused here rather than by DynamoDB.
 */
export const MAX_KEY_ATTRIBUTE_BYTES = 1024;

/** What a cursor is a position in: any JSON value naming the listing (see the module comment). */
export type CursorScope = unknown;

/** 64 bits of SHA-256 over the canonical JSON of the scope: collisions only by intent. */
function scopeTag(scope: CursorScope): string {
  return createHash('sha256')
    .update(canonicalJson(scope ?? null))
    .digest('base64url')
    .slice(0, 11);
}

/** The opaque form of a position in the listing `scope`; `null` when there is no next page. */
export function encodeCursor(position: unknown, scope: CursorScope): string | null {
  if (position === undefined || position === null) return null;
  return Buffer.from(JSON.stringify({ q: scopeTag(scope), p: position }), 'utf8').toString(
    'base64url',
  );
}

/** The contract's 400 for a cursor (also when DynamoDB refuses the start key it names). */
export function invalidCursor(field = 'cursor'): InvalidRequestError {
  return new InvalidRequestError('The cursor is not valid.', [
    { field, message: 'use a nextCursor returned by this listing, with the same filters' },
  ]);
}

const envelope = z.strictObject({ q: z.string(), p: z.unknown() });

/**
 * The position a cursor stands for in the listing `scope`, or undefined for no cursor (first
 * page). A cursor of another scope, or one the schema does not accept, is a 400.
 */
export function decodeCursor<S extends z.core.$ZodType>(
  raw: string | undefined,
  schema: S,
  scope: CursorScope,
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
  const outer = envelope.safeParse(value);
  if (!outer.success || outer.data.q !== scopeTag(scope)) throw invalidCursor(field);
  const parsed = z.safeParse(schema, outer.data.p);
  if (!parsed.success) throw invalidCursor(field);
  return parsed.data;
}

/** A non-empty string DynamoDB accepts as a key attribute value (see `MAX_KEY_ATTRIBUTE_BYTES`). */
export const keyAttribute = z.string().check(
  z.minLength(1),
  z.maxLength(MAX_KEY_ATTRIBUTE_BYTES),
  z.refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_KEY_ATTRIBUTE_BYTES),
);

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
      name in pinned ? z.literal(pinned[name] as string) : keyAttribute,
    ]),
  );
  return z.strictObject(shape);
}
