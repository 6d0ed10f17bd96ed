import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ghlDedupeKey } from '../../functions/webhooks/ghl-dedupe-key.js';

const base = {
  contact_id: 'c-1',
  phone: '050-123-4567',
  date_created: '2026-11-22T05:19:55.000Z',
  location: { id: 'loc-1' },
  workflow: { id: 'wf-1', name: 'Inbound SMS' },
  message: { type: 2, body: 'Hi, is this still available?' },
  customData: { Date: '2026-11-22', Time: '07:19', Message: 'Hi, is this still available?' },
};

/** Serialises with keys in a random order and random whitespace: the bytes a retry might carry. */
function reserialise(value: unknown, rand: () => number): string {
  const ws = () => [' ', '', '\n', '\t', '  '][Math.floor(rand() * 5)] ?? '';
  if (Array.isArray(value))
    return `[${ws()}${value.map((v) => reserialise(v, rand)).join(`,${ws()}`)}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(() => rand() - 0.5);
    return `{${ws()}${entries.map(([k, v]) => `${JSON.stringify(k)}${ws()}:${ws()}${reserialise(v, rand)}`).join(`,${ws()}`)}${ws()}}`;
  }
  return JSON.stringify(value);
}

const STABLE_PATHS: Array<[string, (p: typeof base, v: string) => unknown]> = [
  ['contact_id', (p, v) => ({ ...p, contact_id: v })],
  ['workflow.id', (p, v) => ({ ...p, workflow: { ...p.workflow, id: v } })],
  ['date_created', (p, v) => ({ ...p, date_created: v })],
  ['customData.Date', (p, v) => ({ ...p, customData: { ...p.customData, Date: v } })],
  ['customData.Time', (p, v) => ({ ...p, customData: { ...p.customData, Time: v } })],
  ['message.body', (p, v) => ({ ...p, message: { ...p.message, body: v } })],
];

describe('GHL dedupe key', () => {
  it('is ghl_sms: + sha256 hex', () => {
    expect(ghlDedupeKey('t1', base)).toMatch(/^ghl_sms:[0-9a-f]{64}$/);
  });

  it('property: key order, JSON whitespace and receipt time never change it', () => {
    fc.assert(
      fc.property(fc.integer(), fc.date({ noInvalidDate: true }), (seed, receivedAt) => {
        let s = seed;
        const rand = () => {
          s = (s * 1103515245 + 12345) & 0x7fffffff;
          return s / 0x7fffffff;
        };
        const retried = JSON.parse(
          reserialise({ ...base, receivedAt: receivedAt.toISOString() }, rand),
        );
        expect(ghlDedupeKey('t1', retried)).toBe(ghlDedupeKey('t1', base));
      }),
    );
  });

  it('property: any stable field changes it, and so does the tenant', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STABLE_PATHS),
        fc.string({ minLength: 1 }),
        ([path, set], value) => {
          const changed = set(base, value);
          const original = path
            .split('.')
            .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], base);
          fc.pre(value !== original);
          expect(ghlDedupeKey('t1', changed)).not.toBe(ghlDedupeKey('t1', base));
        },
      ),
    );
    expect(ghlDedupeKey('t2', base)).not.toBe(ghlDedupeKey('t1', base));
  });

  it('falls back to customData.Message, then empty, for the body', () => {
    const noBody = { ...base, message: { type: 2 } };
    const otherMessage = { ...noBody, customData: { ...base.customData, Message: 'different' } };
    expect(ghlDedupeKey('t1', noBody)).not.toBe(ghlDedupeKey('t1', otherMessage));
    const neither = {
      ...noBody,
      customData: { Date: base.customData.Date, Time: base.customData.Time },
    };
    expect(ghlDedupeKey('t1', neither)).toMatch(/^ghl_sms:[0-9a-f]{64}$/);
  });

  it('uses the provider id when the payload has one', () => {
    expect(ghlDedupeKey('t1', { ...base, message: { ...base.message, id: 'sms-77' } })).toBe(
      'ghl_sms:id:sms-77',
    );
  });
});
