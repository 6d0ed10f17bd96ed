/**
 * Phone numbers: any common form in, E.164 out, with libphonenumber-js doing the parsing and the
 * tenant's default country applied to national numbers. Never a hand-written parser: the only
 * rules added here are the two wire forms WhatsApp still uses for numbers that their country's
 * numbering plan has since rewritten (`canonicalMobile`), applied to what libphonenumber parsed.
 */
import {
  type CountryCode,
  isSupportedCountry,
  type PhoneNumber,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';

/**
 * Mexico: WhatsApp ids of Mexican mobiles keep the `1` after the country code (`521` + 10 digits)
 * that Mexico's numbering plan dropped on 2019-08-03 (IFT's "marcación a 10 dígitos"); the number
 * itself is `+52` + the 10 digits. WhatsApp's own FAQ on international formats
 * (faq.whatsapp.com/1294841057948784) and Evolution API's `formatMXOrARNumber`
 * (EvolutionAPI/evolution-api `src/utils/createJid.ts`) treat the two forms as one number.
 */
const MX_MOBILE_ONE = /^1(\d{10})$/;
/**
 * Brazil: mobiles gained a ninth digit (a leading `9`) between 2012 and 2016 (Anatel); WhatsApp
 * accounts registered before keep the 8-digit form in their id (`55` + area code + 8 digits).
 * Mobile subscriber numbers start with 6-9, fixed lines with 2-5 (Anatel's numbering plan), so an
 * 8-digit number starting 6-9 is a mobile's old form and `9` + those digits its current one.
 * Evolution API resolves the same two forms to one account (`formatBRNumber` in
 * `src/utils/createJid.ts`, and the with/without-digit lookup in
 * `src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts`).
 */
const BR_MOBILE_WITHOUT_NINE = /^(\d{2})([6-9]\d{7})$/;

/** The number as its country dials it today, for the wire forms above; else undefined. */
function canonicalMobile(parsed: PhoneNumber): string | undefined {
  const national = parsed.nationalNumber;
  if (parsed.countryCallingCode === '52') {
    const m = MX_MOBILE_ONE.exec(national);
    if (m) return `+52${m[1]}`;
  }
  if (parsed.countryCallingCode === '55') {
    const m = BR_MOBILE_WITHOUT_NINE.exec(national);
    if (m) return `+55${m[1]}9${m[2]}`;
  }
  return undefined;
}

/** E.164 (`+972501234567`) or undefined when the input is not a possible, valid number. */
export function toE164(input: string, defaultCountry?: string): string | undefined {
  const trimmed = input.trim();
  if (trimmed === '' || trimmed.length > 64) return undefined;
  const country =
    defaultCountry && isSupportedCountry(defaultCountry.toUpperCase())
      ? (defaultCountry.toUpperCase() as CountryCode)
      : undefined;
  // Bare international digits (as WhatsApp sends them: `972501234567`) carry no plus sign.
  const candidates = /^\d{8,15}$/.test(trimmed) ? [trimmed, `+${trimmed}`] : [trimmed];
  for (const candidate of candidates) {
    const parsed = parsePhoneNumberFromString(
      candidate,
      country ? { defaultCountry: country } : {},
    );
    if (!parsed) continue;
    const canonical = canonicalMobile(parsed);
    if (canonical) {
      const current = parsePhoneNumberFromString(canonical);
      if (current?.isValid()) return current.number;
    }
    if (parsed.isValid()) return parsed.number;
  }
  return undefined;
}

/** Human display form of an E.164 number (`+972 50-123-4567`). */
export function formatPhone(e164: string): string {
  return parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
}
