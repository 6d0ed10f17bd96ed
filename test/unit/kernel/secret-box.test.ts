/**
 * Endpoint secrets at rest: sealed, never stored in clear, bound to their tenant and endpoint, and
 * opened only with the platform key that sealed them.
 */
import { describe, expect, it } from 'vitest';
import { generateSigningSecret } from '../../../functions/events/signing.js';
import { SecretBoxError, secretBox } from '../../../functions/kernel/secret-box.js';

describe('secret box', () => {
  const box = secretBox('platform-key-1');
  const secret = generateSigningSecret();

  it('opens what it sealed, and the sealed form holds nothing of the secret', () => {
    const sealed = box.seal(secret, 't1/ep1');
    expect(box.open(sealed, 't1/ep1')).toBe(secret);
    expect(sealed).not.toContain(secret.slice(6, 20));
    expect(box.seal(secret, 't1/ep1')).not.toBe(sealed); // a fresh IV each time
  });

  it('refuses a sealed secret moved to another endpoint or tenant', () => {
    const sealed = box.seal(secret, 't1/ep1');
    expect(() => box.open(sealed, 't1/ep2')).toThrow(SecretBoxError);
    expect(() => box.open(sealed, 't2/ep1')).toThrow(SecretBoxError);
  });

  it('refuses another platform key and a tampered seal', () => {
    const sealed = box.seal(secret, 't1/ep1');
    expect(() => secretBox('platform-key-2').open(sealed, 't1/ep1')).toThrow(SecretBoxError);
    const [v, iv, body, tag] = sealed.split('.');
    const flipped = `${body?.[0] === 'A' ? 'B' : 'A'}${body?.slice(1)}`;
    expect(() => box.open([v, iv, flipped, tag].join('.'), 't1/ep1')).toThrow(SecretBoxError);
  });

  it('makes Standard Webhooks secrets: whsec_ and 32 random bytes in base64', () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
  });
});
