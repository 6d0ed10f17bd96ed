/**
 * `itemReader`: reads the attributes of a raw DynamoDB item into a typed record, checking each one,
 * so an adapter's parser (`functions/<context>/items.ts`) hands its callers a typed item instead of
 * casting `Record<string, unknown>`. A missing or mistyped attribute throws `MalformedItemError`
 * naming the item's kind and the attribute, never its value (items hold phone numbers).
 *
 * Hand-written rather than a zod schema per item: these run on every item every request reads (a
 * campaign send reads three), and a reader is a few property checks, with nothing to build at
 * cold start.
 */
import type { Item } from './put-once.js';

export class MalformedItemError extends Error {
  override name = 'MalformedItemError';
}

export interface ItemReader {
  string(attribute: string): string;
  optionalString(attribute: string): string | undefined;
  number(attribute: string): number;
  optionalNumber(attribute: string): number | undefined;
  /** A number, or `fallback` when the attribute is absent. */
  numberOr(attribute: string, fallback: number): number;
  oneOf<T extends string>(attribute: string, allowed: readonly T[]): T;
  optionalBoolean(attribute: string): boolean | undefined;
  /** A map attribute, as an item of its own (read it with another reader). */
  map(attribute: string): Item;
  optionalList(attribute: string): readonly unknown[] | undefined;
}

/** A reader of `raw`, an item of `kind` (the name errors give). */
export function itemReader(raw: Item, kind: string): ItemReader {
  const wrong = (attribute: string, expected: string) =>
    new MalformedItemError(
      `${kind} item: ${attribute} is ${describe(raw[attribute])}, not ${expected}`,
    );
  const optional = <T>(attribute: string, is: (v: unknown) => v is T, expected: string) => {
    const value = raw[attribute];
    if (value === undefined || value === null) return undefined;
    if (!is(value)) throw wrong(attribute, expected);
    return value;
  };
  const required = <T>(attribute: string, is: (v: unknown) => v is T, expected: string) => {
    const value = optional(attribute, is, expected);
    if (value === undefined) throw wrong(attribute, expected);
    return value;
  };
  return {
    string: (attribute) => required(attribute, isString, 'a string'),
    optionalString: (attribute) => optional(attribute, isString, 'a string'),
    number: (attribute) => required(attribute, isNumber, 'a number'),
    optionalNumber: (attribute) => optional(attribute, isNumber, 'a number'),
    numberOr: (attribute, fallback) => optional(attribute, isNumber, 'a number') ?? fallback,
    oneOf: <T extends string>(attribute: string, allowed: readonly T[]) =>
      required(
        attribute,
        (v): v is T => typeof v === 'string' && (allowed as readonly string[]).includes(v),
        `one of ${allowed.join(', ')}`,
      ),
    optionalBoolean: (attribute) =>
      optional(attribute, (v): v is boolean => typeof v === 'boolean', 'a boolean'),
    map: (attribute) => required(attribute, isMap, 'a map'),
    optionalList: (attribute) => optional(attribute, Array.isArray, 'a list'),
  };
}

/**
 * The fields of `optional` that are set: a parsed item carries no `undefined` values, so it reads
 * (and compares) as the item stored.
 */
export function withoutAbsent<T extends object>(optional: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(optional).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isMap = (v: unknown): v is Item => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a value is, without the value itself. */
function describe(value: unknown): string {
  if (value === undefined || value === null) return 'missing';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

/**
 * A sweep's read of many entries: the ones read, and the errors of those too malformed to read.
 * A sweep index serves every tenant, so one bad entry must cost only itself: the sweep counts it
 * and goes on with the others (it stays in the index, counted each run, until an operator mends it).
 */
export interface ReadEach<T> {
  readonly read: T[];
  /** One per unreadable entry; the message names the attribute, never its value. */
  readonly unreadable: MalformedItemError[];
}

/** Reads every raw item with `parse`, keeping `MalformedItemError`s apart; other errors propagate. */
export async function readEach<T>(
  raws: Iterable<Item> | AsyncIterable<Item>,
  parse: (raw: Item) => T,
): Promise<ReadEach<T>> {
  const out: ReadEach<T> = { read: [], unreadable: [] };
  for await (const raw of raws) {
    try {
      out.read.push(parse(raw));
    } catch (error) {
      if (!(error instanceof MalformedItemError)) throw error;
      out.unreadable.push(error);
    }
  }
  return out;
}
