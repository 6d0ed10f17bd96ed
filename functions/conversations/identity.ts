/**
 * One normaliser for the ways a person reaches a tenant: phone numbers in any common form, and
 * WhatsApp identifiers (`972501234567@s.whatsapp.net`, `972501234567:12@s.whatsapp.net`,
 * `972501234567@c.us`, `82399031480511@lid`, group participants, the Cloud API's business-scoped
 * user ids). Phones become E.164 through libphonenumber-js (kernel `toE164`); ids that hide the
 * phone (`@lid`, BSUID) become aliases that a link item ties to a phone once any payload shows both.
 *
 * Pure: no I/O, so the rules are property-tested without a database.
 */
import { formatPhone, toE164 } from '../kernel/phone.js';

export type WhatsAppId =
  | { readonly kind: 'phone'; readonly e164: string }
  | { readonly kind: 'lid'; readonly alias: string }
  | { readonly kind: 'bsuid'; readonly alias: string }
  | { readonly kind: 'group'; readonly groupId: string };

const JID = /^([^@\s]{1,128})@([a-z.]{1,32})$/;
// Meta's business-scoped user id: `<country>.<opaque>` (e.g. `US.13491208655302741918`).
const BSUID = /^[A-Z]{2}\.[A-Za-z0-9]{6,64}$/;
const DIGITS = /^\+?\d{6,15}$/;

/**
 * Parses one WhatsApp identifier. `user[_agent][:device]@server`: the agent and device parts name a
 * linked device of the same person and are dropped. Undefined for anything that is not a person
 * or group id (broadcast lists, newsletters, junk).
 */
export function parseWhatsAppId(raw: unknown): WhatsAppId | undefined {
  if (typeof raw !== 'string') return undefined;
  const value = raw.trim();
  if (value === '' || value.length > 160) return undefined;
  const jid = JID.exec(value.toLowerCase());
  if (jid) {
    const user = (jid[1] ?? '').split(':')[0]?.split('_')[0] ?? '';
    const server = jid[2];
    if (!/^\d{1,32}$/.test(user.replace(/-/g, ''))) return undefined;
    switch (server) {
      case 's.whatsapp.net':
      case 'c.us': {
        const e164 = /^\d{6,15}$/.test(user) ? toE164(`+${user}`) : undefined;
        return e164 ? { kind: 'phone', e164 } : undefined;
      }
      case 'lid':
        return /^\d{1,32}$/.test(user) ? { kind: 'lid', alias: `lid:${user}` } : undefined;
      case 'g.us':
        return { kind: 'group', groupId: user };
      default:
        return undefined;
    }
  }
  if (DIGITS.test(value)) {
    // Bare digits as WhatsApp sends them (`wa_id`, `from`) are international numbers.
    const e164 = toE164(value.startsWith('+') ? value : `+${value}`);
    return e164 ? { kind: 'phone', e164 } : undefined;
  }
  if (BSUID.test(value)) return { kind: 'bsuid', alias: `bsuid:${value}` };
  return undefined;
}

/** A person as far as one payload tells: their phone when shown, and the aliases that stand for them. */
export interface PersonIdentity {
  readonly e164?: string;
  /** `lid:<digits>` / `bsuid:<id>`, sorted and unique. */
  readonly aliases: readonly string[];
}

/**
 * Folds every identifier a payload carries for one person into one identity. The first phone wins
 * (callers pass the most authoritative id first); groups are not people and are skipped.
 */
export function identifyPerson(
  ids: readonly unknown[],
  options: { readonly phone?: unknown; readonly defaultCountry?: string } = {},
): PersonIdentity {
  let e164: string | undefined;
  const aliases = new Set<string>();
  for (const raw of ids) {
    const id = parseWhatsAppId(raw);
    if (!id) continue;
    if (id.kind === 'phone') e164 ??= id.e164;
    else if (id.kind === 'lid' || id.kind === 'bsuid') aliases.add(id.alias);
  }
  if (!e164 && typeof options.phone === 'string')
    e164 = toE164(options.phone, options.defaultCountry);
  return { ...(e164 ? { e164 } : {}), aliases: [...aliases].sort() };
}

/** True when the identity names somebody we can thread messages under. */
export function isIdentified(person: PersonIdentity): boolean {
  return person.e164 !== undefined || person.aliases.length > 0;
}

/**
 * The conversation key: `lead:{tenant}:{leadId}` for a known lead, else `phone:{tenant}:{e164}`.
 * A person seen only under an unlinked alias gets `alias:{tenant}:{alias}` (an extension of the
 * contract) until a payload links the alias to a phone.
 */
export function conversationKey(
  tenantId: string,
  target: { readonly leadId?: string; readonly e164?: string; readonly alias?: string },
): string {
  if (target.leadId) return `lead:${tenantId}:${target.leadId}`;
  if (target.e164) return `phone:${tenantId}:${target.e164}`;
  if (target.alias) return `alias:${tenantId}:${target.alias}`;
  throw new Error('a conversation key needs a lead, a phone or an alias');
}

/** Lead name, else WhatsApp profile name, else the formatted phone; never a raw `@lid` or JID. */
export function displayNameFor(input: {
  readonly leadName?: string | undefined;
  readonly profileName?: string | undefined;
  readonly e164?: string | undefined;
}): string {
  const clean = (s: string | undefined) => {
    const t = s?.trim();
    if (!t) return undefined;
    // A profile name that is itself an identifier says nothing a person would recognise.
    if (/@(s\.whatsapp\.net|c\.us|lid|g\.us)$/i.test(t) || parseWhatsAppId(t)) return undefined;
    return t.slice(0, 200);
  };
  return (
    clean(input.leadName) ??
    clean(input.profileName) ??
    (input.e164 ? formatPhone(input.e164) : 'WhatsApp user')
  );
}
