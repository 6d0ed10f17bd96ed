/**
 * The one update-expression builder: attribute values in, `UpdateExpression` with placeholders out,
 * merged with the caller's conditions. Placeholders are `#u<n>` / `:u<n>`; a condition must not use
 * those (checked), so builders never collide.
 *
 * Attribute names are top-level attributes (a dot is part of the name, not a path); an update of
 * attributes inside a map entry (`jobs.<type>.status`) names the entry's path in `within`.
 */
import type { Item } from './put-once.js';

export interface UpdateSpec {
  /** `attr = value`. */
  readonly set?: Readonly<Record<string, unknown>>;
  /** `attr = if_not_exists(attr, value)`: set only when absent. */
  readonly setIfAbsent?: Readonly<Record<string, unknown>>;
  /** `attr = source`: the value of another attribute of the same item (`sweepPk = pendingPk`). */
  readonly copy?: Readonly<Record<string, string>>;
  /** `ADD attr n`: numeric increments (a missing attribute counts as 0). */
  readonly add?: Readonly<Record<string, number>>;
  readonly remove?: readonly string[];
  /** Changes to attributes inside map entries of the item, in the same write. */
  readonly within?: readonly NestedUpdate[];
}

/**
 * Changes inside one map entry: `path` is the entry (e.g. `['jobs', 'ai_triage']`), the attribute
 * names are relative to it. Increments are SET arithmetic (`a = a + n`), which DynamoDB applies at
 * any depth; the attribute must exist (an entry's counters are written with the entry).
 */
export interface NestedUpdate {
  readonly path: readonly string[];
  readonly set?: Readonly<Record<string, unknown>>;
  readonly setIfAbsent?: Readonly<Record<string, unknown>>;
  readonly increment?: Readonly<Record<string, number>>;
  readonly remove?: readonly string[];
}

/** A condition in DynamoDB syntax with its own placeholders. */
export interface Condition {
  readonly expression: string;
  readonly names?: Readonly<Record<string, string>>;
  readonly values?: Readonly<Record<string, unknown>>;
}

export interface BuiltUpdate {
  readonly update: string;
  readonly condition?: string;
  readonly names: Record<string, string>;
  readonly values: Item;
}

const RESERVED = /^[#:]u\d+$/;

/** Builds the update (and the ANDed conditions, if any). Throws when there is nothing to update. */
export function buildUpdate(spec: UpdateSpec, conditions: readonly Condition[] = []): BuiltUpdate {
  const names: Record<string, string> = {};
  const values: Item = {};
  let n = 0;
  // One placeholder per attribute name, so paths that share a map (`jobs`) share its placeholder.
  const byAttr = new Map<string, string>();
  const name = (attr: string) => {
    const known = byAttr.get(attr);
    if (known) return known;
    const placeholder = `#u${n++}`;
    names[placeholder] = attr;
    byAttr.set(attr, placeholder);
    return placeholder;
  };
  const pathOf = (path: readonly string[], attr: string) => [...path, attr].map(name).join('.');
  const value = (v: unknown) => {
    const placeholder = `:u${n++}`;
    values[placeholder] = v;
    return placeholder;
  };
  const sets = [
    ...Object.entries(spec.set ?? {}).map(([attr, v]) => `${name(attr)} = ${value(v)}`),
    ...Object.entries(spec.setIfAbsent ?? {}).map(([attr, v]) => {
      const a = name(attr);
      return `${a} = if_not_exists(${a}, ${value(v)})`;
    }),
    ...Object.entries(spec.copy ?? {}).map(([attr, source]) => `${name(attr)} = ${name(source)}`),
  ];
  for (const entry of spec.within ?? []) {
    if (entry.path.length === 0) throw new Error('a nested update needs a path');
    for (const [attr, v] of Object.entries(entry.set ?? {})) {
      sets.push(`${pathOf(entry.path, attr)} = ${value(v)}`);
    }
    for (const [attr, v] of Object.entries(entry.setIfAbsent ?? {})) {
      const a = pathOf(entry.path, attr);
      sets.push(`${a} = if_not_exists(${a}, ${value(v)})`);
    }
    for (const [attr, v] of Object.entries(entry.increment ?? {})) {
      const a = pathOf(entry.path, attr);
      sets.push(`${a} = ${a} + ${value(v)}`);
    }
  }
  const adds = Object.entries(spec.add ?? {}).map(([attr, v]) => `${name(attr)} ${value(v)}`);
  const removes = [
    ...(spec.remove ?? []).map(name),
    ...(spec.within ?? []).flatMap((entry) =>
      (entry.remove ?? []).map((attr) => pathOf(entry.path, attr)),
    ),
  ];
  const clauses = [
    sets.length > 0 ? `SET ${sets.join(', ')}` : '',
    adds.length > 0 ? `ADD ${adds.join(', ')}` : '',
    removes.length > 0 ? `REMOVE ${removes.join(', ')}` : '',
  ].filter(Boolean);
  if (clauses.length === 0) throw new Error('an update needs at least one set, add or remove');

  const condition = andInto(names, values, conditions);
  return { update: clauses.join(' '), ...(condition ? { condition } : {}), names, values };
}

/** A write's conditions ANDed into one, with their placeholders (for puts and checks). */
export interface BuiltCondition {
  readonly condition?: string;
  readonly names: Record<string, string>;
  readonly values: Item;
}

/**
 * The conditions ANDed into one expression with their placeholders merged: what a put or a
 * condition check carries (an update gets the same from `buildUpdate`).
 */
export function buildCondition(conditions: readonly Condition[]): BuiltCondition {
  const names: Record<string, string> = {};
  const values: Item = {};
  const condition = andInto(names, values, conditions);
  return { ...(condition ? { condition } : {}), names, values };
}

/** ANDs the conditions, adding their placeholders to `names` and `values`. */
function andInto(
  names: Record<string, string>,
  values: Item,
  conditions: readonly Condition[],
): string | undefined {
  for (const condition of conditions) {
    mergePlaceholders(names, condition.names, 'names two attributes');
    mergePlaceholders(values, condition.values, 'has two values');
  }
  if (conditions.length === 0) return undefined;
  if (conditions.length === 1) return conditions[0]?.expression;
  return conditions.map((c) => enclosed(c.expression)).join(' AND ');
}

/**
 * The expression in parentheses, unless it already stands in one pair: DynamoDB refuses
 * redundant parentheses (`((a OR b))`).
 */
function enclosed(expression: string): string {
  const e = expression.trim();
  if (e.startsWith('(')) {
    let depth = 0;
    for (let i = 0; i < e.length; i++) {
      if (e[i] === '(') depth++;
      else if (e[i] === ')') depth--;
      if (depth === 0) {
        if (i === e.length - 1) return e;
        break;
      }
    }
  }
  return `(${e})`;
}

/** Adds a condition's placeholders, refusing the builder's own and one placeholder for two things. */
function mergePlaceholders(
  into: Record<string, unknown>,
  from: Readonly<Record<string, unknown>> | undefined,
  clash: string,
): void {
  for (const [placeholder, v] of Object.entries(from ?? {})) {
    if (RESERVED.test(placeholder))
      throw new Error(`condition placeholder ${placeholder} is reserved`);
    if (placeholder in into && into[placeholder] !== v) {
      throw new Error(`condition placeholder ${placeholder} ${clash}`);
    }
    into[placeholder] = v;
  }
}
