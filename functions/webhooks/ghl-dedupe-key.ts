/**
 * The dedupe key of a GoHighLevel workflow webhook. The payload carries no message id, so the key
 * is `ghl_sms:` + sha256 over the stable fields only (tenant, `contact_id`, `workflow.id`,
 * `date_created`, `customData.Date`, `customData.Time`, and the body: `message.body`, else
 * `customData.Message`, else empty). Receipt time, field order and JSON whitespace never enter
 * it. When the payload does carry a provider id, that id is the key.
 */
import { sha256Hex } from '../kernel/secrets.js';
import { ghlKeys, messageKeys } from './items.js';

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};

/** Strings as they are; numbers and booleans as their JSON text; anything else is absent. */
function stable(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  return null;
}

/** A provider message id, when the workflow was set up to send one. */
export function ghlProviderId(payload: unknown): string | undefined {
  const p = asObject(payload);
  const candidates = [
    asObject(p.message).id,
    p.messageId,
    p.message_id,
    asObject(p.customData).messageId,
  ];
  for (const c of candidates) {
    const id = stable(c)?.trim();
    if (id && id.length <= 256) return id;
  }
  return undefined;
}

/** The message body: `message.body`, else `customData.Message`, else empty. */
export function ghlBody(payload: unknown): string {
  const p = asObject(payload);
  return stable(asObject(p.message).body) ?? stable(asObject(p.customData).Message) ?? '';
}

/**
 * Which rule makes the key exact: the provider's id, a mapped message time (`customData.Date` /
 * `customData.Time`), or neither, when two identical texts of one contact in one workflow share the
 * key: then the key is only trusted for a window (see `receiveGhlSms`).
 */
export type GhlDedupeRule = 'provider_id' | 'message_time' | 'window';

export function ghlDedupeRule(payload: unknown): GhlDedupeRule {
  if (ghlProviderId(payload)) return 'provider_id';
  const custom = asObject(asObject(payload).customData);
  const mapped = [custom.Date, custom.Time].map(stable).some((v) => v !== null && v.trim() !== '');
  return mapped ? 'message_time' : 'window';
}

/** The mapped message time, when `customData.Date` (with `customData.Time`, if any) parses. */
export function ghlMessageTime(payload: unknown): number | undefined {
  const custom = asObject(asObject(payload).customData);
  const date = stable(custom.Date);
  if (!date) return undefined;
  const time = stable(custom.Time);
  const ms = Date.parse(time ? `${date} ${time}` : date);
  return Number.isNaN(ms) ? undefined : ms;
}

export function ghlDedupeKey(tenantId: string, payload: unknown): string {
  const providerId = ghlProviderId(payload);
  if (providerId) return messageKeys.ghl(providerId);
  const p = asObject(payload);
  const custom = asObject(p.customData);
  // A JSON array of the fields in a fixed order: unambiguous (no separator can be forged).
  const canonical = JSON.stringify([
    tenantId,
    stable(p.contact_id),
    stable(asObject(p.workflow).id),
    stable(p.date_created),
    stable(custom.Date),
    stable(custom.Time),
    ghlBody(payload),
  ]);
  return ghlKeys.digest(sha256Hex(canonical));
}
