/**
 * Phone numbers: any common form in, E.164 out, with libphonenumber-js doing the parsing and the
 * tenant's default country applied to national numbers. Never a hand-written parser.
 */
import {
  type CountryCode,
  isSupportedCountry,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';

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
    if (parsed?.isValid()) return parsed.number;
  }
  return undefined;
}

/** Human display form of an E.164 number (`+972 50-123-4567`). */
export function formatPhone(e164: string): string {
  return parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
}
