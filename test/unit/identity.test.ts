import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  conversationKey,
  displayNameFor,
  identifyPerson,
  parseWhatsAppId,
} from '../../functions/conversations/identity.js';

const PHONE = '+972501234567';

describe('parseWhatsAppId', () => {
  it('reads every form of one phone as the same E.164', () => {
    for (const raw of [
      '972501234567',
      '+972501234567',
      '972501234567@s.whatsapp.net',
      '972501234567:12@s.whatsapp.net',
      '972501234567@c.us',
      ' 972501234567@S.WHATSAPP.NET ',
      '972501234567_1:3@s.whatsapp.net',
    ]) {
      expect(parseWhatsAppId(raw), raw).toEqual({ kind: 'phone', e164: PHONE });
    }
  });

  it('reads @lid and business-scoped ids as aliases, groups as groups', () => {
    expect(parseWhatsAppId('82399031480511@lid')).toEqual({
      kind: 'lid',
      alias: 'lid:82399031480511',
    });
    expect(parseWhatsAppId('82399031480511:4@lid')).toEqual({
      kind: 'lid',
      alias: 'lid:82399031480511',
    });
    expect(parseWhatsAppId('US.13491208655302741918')).toEqual({
      kind: 'bsuid',
      alias: 'bsuid:US.13491208655302741918',
    });
    expect(parseWhatsAppId('120363025246125486@g.us')).toEqual({
      kind: 'group',
      groupId: '120363025246125486',
    });
  });

  it('rejects what is not a person', () => {
    for (const raw of [
      '',
      'status@broadcast',
      'abc@s.whatsapp.net',
      '1@s.whatsapp.net',
      42,
      null,
      {},
      'x'.repeat(500),
    ]) {
      expect(parseWhatsAppId(raw)).toBeUndefined();
    }
  });

  it('property: device and agent suffixes and the server alias never change the phone', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('972501234567', '14155552671', '447911123456', '5511987654321'),
        fc.option(fc.integer({ min: 0, max: 99 }), { nil: undefined }),
        fc.constantFrom('s.whatsapp.net', 'c.us', 'S.WhatsApp.Net'),
        (digits, device, server) => {
          const raw = `${digits}${device === undefined ? '' : `:${device}`}@${server}`;
          const parsed = parseWhatsAppId(raw);
          expect(parsed).toEqual(parseWhatsAppId(digits));
          expect(parsed?.kind).toBe('phone');
        },
      ),
    );
  });

  it('property: a JID yields exactly its user digits (device and agent dropped), or nothing', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-z]{0,16}$/),
        fc.option(fc.stringMatching(/^[0-9]{1,3}$/), { nil: undefined }),
        fc.constantFrom('s.whatsapp.net', 'c.us', 'lid', 'g.us', 'broadcast', 'newsletter'),
        (user, device, server) => {
          const parsed = parseWhatsAppId(`${user}${device ? `:${device}` : ''}@${server}`);
          if (parsed === undefined) return;
          // Whatever it yields is built from the user part alone, never from the device or server.
          expect(user).toMatch(/^\d+$/);
          if (parsed.kind === 'phone') expect(parsed.e164).toBe(`+${user}`);
          else if (parsed.kind === 'lid') expect(parsed.alias).toBe(`lid:${user}`);
          else if (parsed.kind === 'group') expect(parsed.groupId).toBe(user);
          else throw new Error(`unexpected ${parsed.kind} from a JID`);
          expect(['s.whatsapp.net', 'c.us', 'lid', 'g.us']).toContain(server);
        },
      ),
    );
  });
});

describe('identifyPerson', () => {
  it('folds a JID, its @lid and a national GHL phone into one identity', () => {
    const fromBaileys = identifyPerson(['82399031480511@lid', '972501234567@s.whatsapp.net']);
    expect(fromBaileys).toEqual({ e164: PHONE, aliases: ['lid:82399031480511'] });
    expect(identifyPerson([], { phone: '050-123-4567', defaultCountry: 'IL' })).toEqual({
      e164: PHONE,
      aliases: [],
    });
  });

  it('property: the order of identifiers does not change the identity', () => {
    const ids = [
      '82399031480511@lid',
      '972501234567:3@s.whatsapp.net',
      'US.13491208655302741918',
      '120363@g.us',
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(ids, { minLength: 1 }), (subset) => {
        const a = identifyPerson(subset);
        const b = identifyPerson([...subset].reverse());
        expect(a).toEqual(b);
      }),
    );
  });
});

describe('conversation keys and display names', () => {
  it('prefers the lead, then the phone', () => {
    expect(conversationKey('t1', { leadId: 'L1', e164: PHONE })).toBe('lead:t1:L1');
    expect(conversationKey('t1', { e164: PHONE })).toBe(`phone:t1:${PHONE}`);
  });

  it('never shows a raw @lid or JID', () => {
    expect(displayNameFor({ leadName: 'Dana', profileName: 'D', e164: PHONE })).toBe('Dana');
    expect(displayNameFor({ profileName: 'Dana K', e164: PHONE })).toBe('Dana K');
    expect(displayNameFor({ profileName: '82399031480511@lid', e164: PHONE })).toBe(
      '+972 50 123 4567',
    );
    expect(displayNameFor({ profileName: '82399031480511@lid' })).toBe('WhatsApp user');
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.string(), { nil: undefined }),
        (profileName, leadName) => {
          const name = displayNameFor({ profileName, leadName });
          expect(name).not.toMatch(/@(lid|s\.whatsapp\.net|c\.us)$/i);
        },
      ),
    );
  });
});
