/**
 * Turns a page of recipients as the operator sent them into contacts: E.164 through the kernel's
 * phone normaliser (the tenant's default country for national numbers), duplicates in other
 * formats collapsed (first one wins, its name kept), invalid phones reported or set aside.
 */
import { parseWhatsAppId } from '../conversations/index.js';
import type { ErrorDetail } from '../kernel/errors.js';
import { toE164 } from '../kernel/phone.js';

export interface RecipientInput {
  readonly phone: string;
  readonly name?: string | undefined;
}

export interface Contact {
  readonly phone: string;
  readonly name?: string;
}

export interface NormalizedPage {
  /** Unique contacts, in the order they first appeared. */
  readonly contacts: readonly Contact[];
  /** Entries that were the same contact as an earlier entry of this page. */
  readonly duplicates: number;
  /** Phones that are not valid numbers, with their position in the page. */
  readonly invalid: ReadonlyArray<{ readonly index: number; readonly raw: string }>;
}

/**
 * E.164 of one recipient as the operator wrote it. A WhatsApp identifier (`…@s.whatsapp.net`,
 * `…:12@s.whatsapp.net`, `…@c.us`) carries an international number: it is read by the shared
 * WhatsApp id parser, never as a national number of the default country (`12125550102@c.us` is
 * +1 212…, not +972 12…). An `@lid` or a group hides or has no phone, so it cannot be sent to.
 */
export function recipientE164(raw: string, defaultCountry: string): string | undefined {
  if (raw.includes('@')) {
    const id = parseWhatsAppId(raw);
    return id?.kind === 'phone' ? id.e164 : undefined;
  }
  return toE164(raw, defaultCountry);
}

export function normalizeRecipients(
  recipients: readonly RecipientInput[],
  defaultCountry: string,
): NormalizedPage {
  const seen = new Map<string, Contact>();
  const invalid: Array<{ index: number; raw: string }> = [];
  let duplicates = 0;
  recipients.forEach((recipient, index) => {
    const e164 = recipientE164(recipient.phone, defaultCountry);
    if (!e164) {
      invalid.push({ index, raw: recipient.phone });
      return;
    }
    if (seen.has(e164)) {
      duplicates += 1;
      return;
    }
    seen.set(e164, { phone: e164, ...(recipient.name ? { name: recipient.name } : {}) });
  });
  return { contacts: [...seen.values()], duplicates, invalid };
}

/** The contract's `details` for invalid phones: one per bad entry. */
export function invalidPhoneDetails(
  invalid: NormalizedPage['invalid'],
  defaultCountry: string,
): ErrorDetail[] {
  return invalid.map(({ index, raw }) => ({
    field: `recipients.${index}.phone`,
    message: raw.includes('@')
      ? 'is not a WhatsApp id of a phone number (an @lid or a group cannot be sent to)'
      : `is not a valid phone number (national numbers are read as ${defaultCountry})`,
  }));
}
