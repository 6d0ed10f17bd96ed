import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signHubBody, verifyHubSignature } from '../../functions/kernel/webhook-signature.js';

describe('X-Hub-Signature-256', () => {
  it('accepts the signature of the raw body and nothing else', () => {
    const body = '{"object":"whatsapp_business_account","entry":[]}';
    const header = signHubBody(body, 'app-secret');
    expect(verifyHubSignature(body, header, 'app-secret')).toBe(true);
    expect(
      verifyHubSignature(body, header.toUpperCase().replace('SHA256=', 'sha256='), 'app-secret'),
    ).toBe(true);
    // Same JSON, different whitespace: a different raw body, so a different signature.
    expect(
      verifyHubSignature(
        '{"object": "whatsapp_business_account","entry":[]}',
        header,
        'app-secret',
      ),
    ).toBe(false);
    expect(verifyHubSignature(body, header, 'other-secret')).toBe(false);
    expect(verifyHubSignature(body, undefined, 'app-secret')).toBe(false);
    expect(verifyHubSignature(body, 'sha1=abc', 'app-secret')).toBe(false);
    expect(verifyHubSignature(body, header, '')).toBe(false);
  });

  it('property: never throws on hostile headers', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ maxLength: 200 }), (body, header) => {
        expect(typeof verifyHubSignature(body, header, 's')).toBe('boolean');
      }),
    );
  });
});
