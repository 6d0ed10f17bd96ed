/**
 * Google's own definitions of the Google Ads API, from `google-ads-node` (a devDependency: its
 * `build/protos/protos.json` is the googleapis protos compiled for protobufjs), and a checker of a
 * REST body against them under the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/):
 * lowerCamelCase keys, no unknown field, int64 family as decimal strings, enums by a name the enum
 * has, at most one member of a oneof, `google.protobuf.Any` resolved through its `@type`.
 *
 * Only tests import this: nothing of `google-ads-node` reaches a bundle.
 */
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The one API version the installed `google-ads-node` ships protos for. */
export const PROTO_VERSION = 'v25';

let root: protobuf.Root | undefined;

export function googleAdsRoot(): protobuf.Root {
  root ??= protobuf.Root.fromJSON(require('google-ads-node/build/protos/protos.json'));
  return root;
}

export const ads = (name: string) => `google.ads.googleads.${PROTO_VERSION}.${name}`;

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT32 = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Every value of an enum, by name. */
export function enumValues(fullName: string): string[] {
  return Object.keys(googleAdsRoot().lookupEnum(fullName).values);
}

/**
 * The problems of `json` as a `typeName` message in Google's REST JSON; empty when it conforms.
 * `int64AsString` false accepts a JSON number for an int64 (a lenient parser does; Google's own
 * answers never send one).
 */
export function protoJsonProblems(
  typeName: string,
  json: unknown,
  options: { int64AsString?: boolean } = {},
): string[] {
  const problems: string[] = [];
  const strictInt64 = options.int64AsString ?? true;

  function checkValue(field: protobuf.Field, value: unknown, path: string): void {
    const type = field.type;
    if (INT64.has(type)) {
      if (
        typeof value === 'string' ? !/^-?\d+$/.test(value) : strictInt64 || !Number.isInteger(value)
      ) {
        problems.push(`${path}: ${type} must be a decimal string, got ${JSON.stringify(value)}`);
      }
      return;
    }
    if (INT32.has(type)) {
      if (!Number.isInteger(value)) problems.push(`${path}: ${type} must be an integer`);
      return;
    }
    if (type === 'double' || type === 'float') {
      if (typeof value !== 'number') problems.push(`${path}: ${type} must be a number`);
      return;
    }
    if (type === 'bool') {
      if (typeof value !== 'boolean') problems.push(`${path}: bool must be a boolean`);
      return;
    }
    if (type === 'string') {
      if (typeof value !== 'string') problems.push(`${path}: string must be a string`);
      return;
    }
    if (type === 'bytes') {
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*=*$/.test(value)) {
        problems.push(`${path}: bytes must be base64`);
      }
      return;
    }
    const resolved = field.resolve().resolvedType;
    if (resolved instanceof protobuf.Enum) {
      if (typeof value === 'string' ? !(value in resolved.values) : !Number.isInteger(value)) {
        problems.push(`${path}: ${JSON.stringify(value)} is not a value of ${resolved.fullName}`);
      }
      return;
    }
    if (resolved instanceof protobuf.Type) {
      checkMessage(resolved, value, path);
      return;
    }
    problems.push(`${path}: unresolved type ${type}`);
  }

  function checkMessage(type: protobuf.Type, value: unknown, path: string): void {
    if (type.fullName === '.google.protobuf.Any') {
      const url = (value as { '@type'?: unknown })?.['@type'];
      const name = typeof url === 'string' ? url.replace(/^type\.googleapis\.com\//, '') : '';
      let inner: protobuf.Type | undefined;
      try {
        inner = googleAdsRoot().lookupType(name);
      } catch {
        problems.push(`${path}: Any with unknown @type ${JSON.stringify(url)}`);
        return;
      }
      const { '@type': _, ...rest } = value as Record<string, unknown>;
      checkMessage(inner, rest, `${path}<${name}>`);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${path}: ${type.name} must be an object`);
      return;
    }
    const byJsonName = new Map(
      type.fieldsArray.map((f) => [f.options?.json_name ?? camel(f.name), f] as const),
    );
    for (const [key, fieldValue] of Object.entries(value)) {
      const field = byJsonName.get(key);
      if (!field) {
        problems.push(`${path}.${key}: no such field in ${type.fullName.slice(1)}`);
        continue;
      }
      const at = `${path}.${key}`;
      if (field.repeated) {
        if (!Array.isArray(fieldValue)) problems.push(`${at}: repeated field must be an array`);
        else {
          for (const [i, item] of fieldValue.entries()) checkValue(field, item, `${at}[${i}]`);
        }
      } else if (field instanceof protobuf.MapField) {
        if (typeof fieldValue !== 'object' || fieldValue === null) {
          problems.push(`${at}: map must be an object`);
        }
      } else {
        checkValue(field, fieldValue, at);
      }
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter(
        (f) =>
          (value as Record<string, unknown>)[f.options?.json_name ?? camel(f.name)] !== undefined,
      );
      if (set.length > 1) {
        problems.push(`${path}: oneof ${oneof.name} has ${set.map((f) => f.name).join(' and ')}`);
      }
    }
  }

  checkMessage(googleAdsRoot().lookupType(typeName), json, typeName.split('.').at(-1) ?? '');
  return problems;
}
