/**
 * Secrets onceflow must use again, at rest (the event endpoints' signing secrets; also the
 * tenants' outbound provider keys, `tenants/provider-credentials.ts`). A signing secret must be recoverable (every delivery signs
 * with it), so it cannot be kept as a hash; a Secrets Manager secret per endpoint would cost
 * $0.40 a month each and an API call per rotation, and the local stand-in serves only declared
 * secrets. So each secret is sealed in its endpoint item with AES-256-GCM under a key derived
 * (HKDF-SHA256) from one platform secret in Secrets Manager (`eventSigningKey`): the item alone,
 * a table export or a backup reveals nothing, and the additional data binds the sealed value to its
 * tenant and endpoint, so a sealed secret copied onto another endpoint does not open.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
/** The purpose a box's key is derived for: one platform key, a separate AES key per purpose. */
export const EVENT_ENDPOINT_SECRETS = 'onceflow/event-endpoint-secret/v1';

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

export interface SecretBox {
  seal(plain: string, boundTo: string): string;
  open(sealed: string, boundTo: string): string;
}

/**
 * A box keyed by the platform's `eventSigningKey` value, for one purpose: HKDF's `info` separates
 * the keys, so a value sealed for one purpose never opens as another's.
 */
export function secretBox(platformKey: string, purpose = EVENT_ENDPOINT_SECRETS): SecretBox {
  const key = Buffer.from(hkdfSync('sha256', platformKey, Buffer.alloc(0), purpose, 32));
  return {
    seal(plain, boundTo) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(boundTo, 'utf8'));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv, body, tag]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },
    open(sealed, boundTo) {
      const [version, iv, body, tag] = sealed.split('.');
      if (version !== VERSION || !iv || !body || !tag)
        throw new SecretBoxError('not a sealed secret');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(boundTo, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([
          decipher.update(Buffer.from(body, 'base64url')),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new SecretBoxError('sealed secret does not open with this key and binding');
      }
    },
  };
}
