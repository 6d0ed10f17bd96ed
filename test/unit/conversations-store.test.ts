import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pageLimit, toConversationView } from '../../functions/conversations/conversation-store.js';
import { conversationIdFor } from '../../functions/conversations/items.js';
import { messageIdFor } from '../../functions/conversations/store-message.js';
import { InvalidRequestError } from '../../functions/kernel/errors.js';
import { providerTime } from '../../functions/webhooks/provider-time.js';

describe('deterministic identities', () => {
  it('tenants never share a message id; ids have their documented shape', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (tenant, other, key) => {
        fc.pre(tenant !== other);
        expect(messageIdFor(tenant, key)).not.toBe(messageIdFor(other, key));
        expect(messageIdFor(tenant, key)).toMatch(/^m_[0-9a-f]{32}$/);
        expect(conversationIdFor(`phone:${tenant}:+1`)).toMatch(/^c_[0-9a-f]{32}$/);
      }),
    );
  });
});

describe('page limits', () => {
  it('limits are integers 1-200', () => {
    expect(pageLimit(undefined)).toBe(50);
    expect(pageLimit('7')).toBe(7);
    for (const bad of ['0', '201', '1.5', 'x', '-1'])
      expect(() => pageLimit(bad)).toThrow(InvalidRequestError);
  });
});

describe('conversation view', () => {
  it('shows lead name, then profile, then the formatted phone', () => {
    const base = {
      conversationId: 'c_1',
      conversationKey: 'phone:t:+972501234567',
      e164: '+972501234567',
      messageCount: 2,
    };
    expect(toConversationView(base)).toMatchObject({
      displayName: '+972 50 123 4567',
      displayPhone: '+972 50 123 4567',
      leadId: null,
    });
    expect(toConversationView({ ...base, profileName: 'Dana' }).displayName).toBe('Dana');
    expect(
      toConversationView({ ...base, profileName: 'Dana', leadName: 'Dana Levi', leadId: 'L1' }),
    ).toMatchObject({
      displayName: 'Dana Levi',
      leadId: 'L1',
    });
  });
});

describe('provider time', () => {
  const now = Date.parse('2026-11-22T05:00:00.000Z');
  it('reads epoch seconds as number, string, milliseconds and protobuf Long; falls back to now', () => {
    expect(providerTime(1795300000, now)).toBe('2026-11-21T22:26:40.000Z');
    expect(providerTime('1795300000', now)).toBe('2026-11-21T22:26:40.000Z');
    expect(providerTime(1795300000000, now)).toBe('2026-11-21T22:26:40.000Z');
    expect(providerTime({ low: 1795300000, high: 0 }, now)).toBe('2026-11-21T22:26:40.000Z');
    for (const junk of [undefined, 'soon', -5, 9e15, {}])
      expect(providerTime(junk, now)).toBe(new Date(now).toISOString());
  });
});
