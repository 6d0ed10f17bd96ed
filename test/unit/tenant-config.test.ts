/** The tenants' configuration rules, without DynamoDB. */
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../functions/kernel/errors.js';
import {
  assertUpdateFits,
  type Claim,
  claimChanges,
  claimsOf,
  MAX_WORK_QUEUE_MAPPINGS,
  sameConfig,
  tenantConfigSchema,
  workQueuesEver,
} from '../../functions/tenants/tenant-config.js';

const config = (phones: string[], extra: Record<string, unknown> = {}) =>
  tenantConfigSchema.parse({
    name: 'Acme',
    defaultCountry: 'il',
    whatsapp: { phoneNumberIds: phones },
    ...extra,
  });
const claims = (kind: Claim['kind'], n: number, prefix = 'x'): Claim[] =>
  Array.from({ length: n }, (_, i) => ({ kind, id: `${prefix}${i}` }));

describe('sameConfig', () => {
  it('is true for the same configuration stored with bookkeeping fields and keys in another order', () => {
    const wanted = config(['1', '2']);
    const stored = {
      tenantId: 't',
      version: 3,
      updatedAt: 'later',
      messagesPerSecond: wanted.messagesPerSecond,
      unknownOutcome: wanted.unknownOutcome,
      whatsapp: { phoneNumberIds: ['1', '2'] },
      defaultCountry: wanted.defaultCountry,
      name: 'Acme',
    };
    expect(sameConfig(stored, wanted)).toBe(true);
  });

  it('is false when any field differs, including list order and a removed section', () => {
    expect(sameConfig(config(['1', '2']), config(['2', '1']))).toBe(false);
    expect(sameConfig(config(['1'], { ghl: { locationIds: ['l'] } }), config(['1']))).toBe(false);
    expect(sameConfig(config(['1']), config(['1'], { messagesPerSecond: 10 }))).toBe(false);
  });
});

describe('claimChanges and assertUpdateFits', () => {
  it('takes what is new and releases what is gone', () => {
    const held = claimsOf(config(['1', '2']));
    const wanted = claimsOf(config(['2', '3']));
    expect(claimChanges(held, wanted)).toEqual({
      take: [{ kind: 'whatsapp_phone', id: '3' }],
      release: [{ kind: 'whatsapp_phone', id: '1' }],
    });
  });

  it('accepts 99 changes and refuses 100 with a 400 naming the limit and the fields', () => {
    expect(() =>
      assertUpdateFits({ take: claims('ghl_location', 50), release: claims('whatsapp_phone', 49) }),
    ).not.toThrow();
    let thrown: unknown;
    try {
      assertUpdateFits({ take: claims('ghl_location', 50), release: claims('whatsapp_phone', 50) });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidRequestError);
    expect((thrown as InvalidRequestError).message).toMatch(
      /at most 99 identifiers; this one changes 100/,
    );
    expect((thrown as InvalidRequestError).details?.map((d) => d.field).sort()).toEqual([
      'ghl.locationIds',
      'whatsapp.phoneNumberIds',
    ]);
  });
});

describe('workQueuesEver', () => {
  it('keeps every event type a queue type waited for, current and past, and only grows', () => {
    const first = workQueuesEver(undefined, undefined, { kyc_pending: 'kyc_approved' });
    const remapped = workQueuesEver(
      first,
      { kyc_pending: 'kyc_approved' },
      { kyc_pending: 'kyc_verified', b: 'x' },
    );
    const dropped = workQueuesEver(remapped, { kyc_pending: 'kyc_verified', b: 'x' }, {});
    expect(first).toEqual({ kyc_pending: ['kyc_approved'] });
    expect(remapped).toEqual({ b: ['x'], kyc_pending: ['kyc_approved', 'kyc_verified'] });
    expect(dropped).toEqual(remapped);
  });

  it(`refuses a change past ${MAX_WORK_QUEUE_MAPPINGS} mappings ever with a 409 naming workQueues`, () => {
    const many = Object.fromEntries(
      Array.from({ length: MAX_WORK_QUEUE_MAPPINGS }, (_, i) => [`q${i}`, ['e']]),
    );
    expect(() => workQueuesEver(many, undefined, { q0: 'e' })).not.toThrow();
    expect(() => workQueuesEver(many, undefined, { q0: 'other' })).toThrow(
      expect.objectContaining({
        status: 409,
        details: [expect.objectContaining({ field: 'workQueues' })],
      }),
    );
  });
});
