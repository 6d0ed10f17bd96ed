/**
 * Standard Webhooks 1.0 signing (https://github.com/standard-webhooks/standard-webhooks,
 * `spec/standard-webhooks.md`, "Signature scheme"): `webhook-signature` is a space-separated list of
 * `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, keyed by the
 * base64-decoded part of the secret after `whsec_`. The tests verify every delivery with the
 * reference verifier (`standardwebhooks` on npm), never with this module.
 */
import { createHmac, randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';

/**
 * A fresh secret: 32 random bytes (the spec asks for 24 to 64), base64 after `whsec_`, as
 * Svix and the reference libraries spell it.
 */
export function generateSigningSecret(): string {
  return `${PREFIX}${randomBytes(32).toString('base64')}`;
}

function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
}

/** The `webhook-signature` value: one `v1,` signature per secret, in the order given. */
export function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const content = `${id}.${timestampSeconds}.${body}`;
  return secrets
    .map(
      (secret) =>
        `v1,${createHmac('sha256', keyOf(secret)).update(content, 'utf8').digest('base64')}`,
    )
    .join(' ');
}
