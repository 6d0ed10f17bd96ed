/**
 * One normaliser for the ways a person reaches a tenant: phone numbers in any common form, and
 * WhatsApp identifiers (`972501234567@s.whatsapp.net`, `972501234567:12@s.whatsapp.net`,
 * `972501234567@c.us`, `82399031480511@lid`, group participants, the Cloud API's business-scoped
 * user ids). Phones become E.164 through libphonenumber-js (kernel `toE164`, which also reads
 * WhatsApp's Mexican `521…` and Brazilian 8-digit mobile forms as today's numbers); ids that hide
 * the phone (`@lid`, BSUID) become aliases that a link item ties to a phone once any payload shows
 * both.
 *
 * A WhatsApp phone id whose digits libphonenumber cannot read (a range newer than its metadata, a
 * wire form nobody documented) is still a person: it becomes the alias `pn:<digits>`, so the message
 * is stored under its raw id, never dropped. The same alias is linked to the phone once a payload
 * shows both, or when those digits first parse (see `rawPhoneAlias`).
 *
 * Pure: no I/O, so the rules are property-tested without a database.
 */
import { formatPhone, toE164 } from '../kernel/phone.js';
import { aliases as alias, conversationKey } from './items.js';

export { conversationKey };

export type WhatsAppId =
  | {
      readonly kind: 'phone';
      readonly e164: string;
      /** `pn:<digits>` when WhatsApp's digits are not the E.164 digits (MX `521…`, BR 8-digit). */
      readonly wireAlias?: string;
    }
  | { readonly kind: 'lid'; readonly alias: string }
  | { readonly kind: 'bsuid'; readonly alias: string }
  | { readonly kind: 'raw'; readonly alias: string }
  | { readonly kind: 'group'; readonly groupId: string };

const JID = /^([^@\s]{1,128})@([a-z.]{1,32})$/;
/**
 * Meta's business-scoped user id: a two-letter country code, a period and up to 128 alphanumeric
 * characters (`US.13491208655302741918`); a parent BSUID shared across a managed business's
 * portfolios has `ENT.` after the country (`US.ENT.11815799212886844830`). Source: Meta, WhatsApp
 * Business Platform, "Business-scoped user IDs"
 * (developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/).
 */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;
/** What a phone id's user part can hold when libphonenumber does not read it: a raw id, kept. */
const RAW_PHONE_DIGITS = /^\d{5,20}$/;

/** The alias a phone id's raw digits are kept under (the same digits, parsed or not). */
export const rawPhoneAlias = alias.rawPhone;

function phoneOrRaw(digits: string): WhatsAppId | undefined {
  const e164 = /^\d{6,15}$/.test(digits) ? toE164(`+${digits}`) : undefined;
  if (e164) {
    return e164.slice(1) === digits
      ? { kind: 'phone', e164 }
      : { kind: 'phone', e164, wireAlias: rawPhoneAlias(digits) };
  }
  return RAW_PHONE_DIGITS.test(digits) ? { kind: 'raw', alias: rawPhoneAlias(digits) } : undefined;
}

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
      case 'c.us':
        return phoneOrRaw(user);
      case 'lid':
        return /^\d{1,32}$/.test(user) ? { kind: 'lid', alias: alias.lid(user) } : undefined;
      case 'g.us':
        return { kind: 'group', groupId: user };
      default:
        return undefined;
    }
  }
  // Bare digits as WhatsApp sends them (`wa_id`, `from`) are international numbers.
  if (/^\+?\d{5,20}$/.test(value)) return phoneOrRaw(value.replace(/^\+/, ''));
  if (BSUID.test(value)) return { kind: 'bsuid', alias: alias.bsuid(value) };
  return undefined;
}

/** A person as far as one payload tells: their phone when shown, and the aliases that stand for them. */
export interface PersonIdentity {
  readonly e164?: string;
  /** `bsuid:<id>` / `lid:<digits>` / `pn:<digits>`, sorted and unique (stable ids sort first). */
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
    if (id.kind === 'phone') {
      e164 ??= id.e164;
      if (id.wireAlias) aliases.add(id.wireAlias);
    } else if (id.kind === 'lid' || id.kind === 'bsuid' || id.kind === 'raw') aliases.add(id.alias);
  }
  if (!e164 && typeof options.phone === 'string')
    e164 = toE164(options.phone, options.defaultCountry);
  return { ...(e164 ? { e164 } : {}), aliases: [...aliases].sort() };
}

/** The networks whose people are known by a provider id (through Unipile). */
export type ProviderNetwork = 'linkedin' | 'instagram' | 'telegram';

/**
 * A person known by one provider-scoped id (a LinkedIn/Instagram/Telegram `attendee_provider_id`),
 * an e-mail address (lower-cased) or a Unipile chat: one alias, like a `@lid`, that
 * `PUT /v1/leads` links to a lead. Undefined for a blank id.
 */
export function aliasPerson(
  of:
    | { readonly network: ProviderNetwork; readonly providerId: string }
    | { readonly email: string }
    | { readonly accountId: string; readonly chatId: string },
): PersonIdentity | undefined {
  let name: string;
  if ('network' in of) {
    const id = of.providerId.trim();
    if (id === '') return undefined;
    name = alias[of.network](id);
  } else if ('email' in of) {
    if (of.email.trim() === '') return undefined;
    name = alias.email(of.email);
  } else name = alias.unipileChat(of.accountId, of.chatId);
  return { aliases: [name] };
}

/** True when the identity names somebody we can thread messages under. */
export function isIdentified(person: PersonIdentity): boolean {
  return person.e164 !== undefined || person.aliases.length > 0;
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
