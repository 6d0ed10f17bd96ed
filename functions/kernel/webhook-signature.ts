/**
 * Webhook signatures in Meta's scheme: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 * The HMAC is taken over the body exactly as received (re-serialised JSON would differ in whitespace
 * and key order), and compared in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/** The header value a sender would put on `rawBody`. */
export function signHubBody(rawBody: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** True only when `header` is a well-formed signature of `rawBody` with `secret`. */
export function verifyHubSignature(
  rawBody: string | Buffer,
  header: string | undefined,
  secret: string,
): boolean {
  if (!header || secret === '') return false;
  const match = SIGNATURE.exec(header.trim());
  if (!match?.[1]) return false;
  const presented = Buffer.from(match[1], 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  // Both are 32 bytes by construction, so timingSafeEqual never throws on length.
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}
