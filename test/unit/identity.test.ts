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
          if (parsed.kind === 'phone')
            expect(parsed.wireAlias ?? `pn:${parsed.e164.slice(1)}`).toBe(`pn:${user}`);
          else if (parsed.kind === 'raw') expect(parsed.alias).toBe(`pn:${user}`);
          else if (parsed.kind === 'lid') expect(parsed.alias).toBe(`lid:${user}`);
          else if (parsed.kind === 'group') expect(parsed.groupId).toBe(user);
          else throw new Error(`unexpected ${parsed.kind} from a JID`);
          expect(['s.whatsapp.net', 'c.us', 'lid', 'g.us']).toContain(server);
        },
      ),
    );
  });
});

describe('every identity form WhatsApp and the gateways send (issue 20.4)', () => {
  it("reads Mexico's 521 mobile form as the 10-digit number Mexico dials today", () => {
    for (const raw of ['5215512345678', '5215512345678@s.whatsapp.net', '+52 1 55 1234 5678']) {
      const id = parseWhatsAppId(raw.replace(/\s/g, ''));
      expect(id, raw).toMatchObject({ kind: 'phone', e164: '+525512345678' });
    }
    expect(parseWhatsAppId('525512345678')).toEqual({ kind: 'phone', e164: '+525512345678' });
    // The wire form is kept as an alias, so both forms are one person.
    expect(identifyPerson(['5215512345678'])).toEqual({
      e164: '+525512345678',
      aliases: ['pn:5215512345678'],
    });
  });

  it("reads Argentina's 549 mobile form as the number a national 15-form parses to", () => {
    for (const [wire, national] of [
      ['5491123456789', '011 15-2345-6789'],
      ['5493512345678', '0351 15-234-5678'],
      ['5492966123456', '02966 15-12-3456'],
    ] as const) {
      const fromWhatsApp = parseWhatsAppId(`${wire}@s.whatsapp.net`);
      expect(fromWhatsApp, wire).toEqual({ kind: 'phone', e164: `+${wire}` });
      expect(identifyPerson([], { phone: national, defaultCountry: 'AR' }).e164, national).toBe(
        `+${wire}`,
      );
    }
  });

  it('reads a Brazilian mobile with or without its ninth digit as one number', () => {
    const nine = parseWhatsAppId('5511987654321');
    const eight = parseWhatsAppId('551187654321@s.whatsapp.net');
    expect(nine).toEqual({ kind: 'phone', e164: '+5511987654321' });
    expect(eight).toEqual({
      kind: 'phone',
      e164: '+5511987654321',
      wireAlias: 'pn:551187654321',
    });
    // A DDD above 30, where WhatsApp ids most often lack the digit.
    expect(parseWhatsAppId('553187654321')).toMatchObject({ e164: '+5531987654321' });
    // A fixed line (subscriber number starting 2-5) has no ninth digit and keeps its form.
    expect(parseWhatsAppId('551132654321')).toEqual({ kind: 'phone', e164: '+551132654321' });
  });

  it('keeps a number libphonenumber cannot read under its raw id, never drops it', () => {
    for (const raw of ['99912345678', '99912345678@s.whatsapp.net', '99912345678:7@c.us']) {
      expect(parseWhatsAppId(raw), raw).toEqual({ kind: 'raw', alias: 'pn:99912345678' });
    }
    expect(identifyPerson(['99912345678', 'US.13491208655302741918'])).toEqual({
      aliases: ['bsuid:US.13491208655302741918', 'pn:99912345678'],
    });
  });

  it('reads BSUIDs up to the country code + 128 characters, and parent BSUIDs', () => {
    const longest = `BR.${'a1B2'.repeat(32)}`;
    expect(longest.length).toBe(131);
    expect(parseWhatsAppId(longest)).toEqual({ kind: 'bsuid', alias: `bsuid:${longest}` });
    expect(parseWhatsAppId('US.ENT.11815799212886844830')).toEqual({
      kind: 'bsuid',
      alias: 'bsuid:US.ENT.11815799212886844830',
    });
    expect(parseWhatsAppId(`BR.${'a'.repeat(129)}`)).toBeUndefined();
  });

  it('never shows a pushName of bare id digits as a name', () => {
    expect(displayNameFor({ profileName: '82399031480511' })).toBe('WhatsApp user');
    expect(displayNameFor({ profileName: '82399031480511', e164: PHONE })).toBe('+972 50 123 4567');
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
