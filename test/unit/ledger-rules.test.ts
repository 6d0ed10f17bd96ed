/** The ledger's rules that need no store: stays, ids, the queue catalog and the request shapes. */
import { describe, expect, it } from 'vitest';
import { conversionIdOf, evidenceIdOf, stayHolds, stayIdOf } from '../../functions/ledger/model.js';
import { eventBody, validateBody } from '../../functions/ledger/schemas.js';
import { type TenantWorkQueues, workQueueCatalog } from '../../functions/ledger/work-queues.js';

describe('stays and identities', () => {
  it('a closed stay holds the times between its ends, both included, and nothing else', () => {
    const stay = { joinedAt: '2026-11-22T10:00:00.000Z', leftAt: '2026-11-22T10:10:00.000Z' };
    expect(stayHolds(stay, '2026-11-22T10:00:00.000Z')).toBe(true);
    expect(stayHolds(stay, '2026-11-22T10:05:00.000Z')).toBe(true);
    expect(stayHolds(stay, '2026-11-22T10:10:00.000Z')).toBe(true);
    expect(stayHolds(stay, '2026-11-22T09:59:59.999Z')).toBe(false);
    expect(stayHolds(stay, '2026-11-22T10:10:00.001Z')).toBe(false);
  });

  it('ids derive from the business identity: same inputs, same id; any change, another', () => {
    expect(stayIdOf('t', 'q', 'u', 1)).toBe(stayIdOf('t', 'q', 'u', 1));
    expect(
      new Set([
        stayIdOf('t', 'q', 'u', 1),
        stayIdOf('t', 'q', 'u', 2),
        stayIdOf('t2', 'q', 'u', 1),
        stayIdOf('t', 'q', 'u2', 1),
      ]).size,
    ).toBe(4);
    expect(conversionIdOf('t', 'u', 'x', 'q', 1)).not.toBe(conversionIdOf('t', 'u', 'x', 'q', 2));
    expect(evidenceIdOf('u', 'x', '2026-11-22T10:00:00.000Z')).toBe(
      evidenceIdOf('u', 'x', '2026-11-22T10:00:00.000Z'),
    );
    expect(evidenceIdOf('u', 'x', '2026-11-22T10:00:00.000Z')).not.toBe(
      evidenceIdOf('u', 'x', '2026-11-22T10:00:00.001Z'),
    );
    expect(evidenceIdOf('u', 'x', '2026-11-22T10:00:00.000Z', 'ev-1')).toBe('e:ev-1');
  });
});

describe('work-queue catalog', () => {
  const catalog = workQueueCatalog(
    async (tenantId): Promise<TenantWorkQueues> =>
      tenantId === 'acme'
        ? {
            current: { kyc_pending: 'kyc_approved', second_signature: 'signature_obtained' },
            ever: {
              kyc_pending: ['kyc_approved', 'kyc_legacy'],
              second_signature: ['signature_obtained'],
              retired_queue: ['signature_obtained'],
              unsigned_users: ['anything_else'],
            },
          }
        : { current: {} },
  );

  it('knows the built-in queue types and the tenant’s own; another is 404', async () => {
    expect(await catalog.eventTypeOf('other', 'unsigned_users')).toBe('signature_obtained');
    expect(await catalog.eventTypeOf('other', 'outstanding_requirements')).toBe(
      'requirements_completed',
    );
    expect(await catalog.eventTypeOf('acme', 'kyc_pending')).toBe('kyc_approved');
    await expect(catalog.eventTypeOf('other', 'kyc_pending')).rejects.toMatchObject({
      status: 404,
    });
  });

  it('lists every queue type waiting for an event type, now or under an earlier mapping', async () => {
    expect(await catalog.queuesWaitingFor('acme', 'signature_obtained')).toEqual([
      'retired_queue',
      'second_signature',
      'unsigned_users',
    ]);
    expect(await catalog.queuesWaitingFor('acme', 'kyc_legacy')).toEqual(['kyc_pending']);
    // A built-in queue type waits for its own event type only.
    expect(await catalog.queuesWaitingFor('acme', 'anything_else')).toEqual([]);
    expect(await catalog.queuesWaitingFor('other', 'kyc_approved')).toEqual([]);
    // A retired queue type takes no new stay.
    await expect(catalog.eventTypeOf('acme', 'retired_queue')).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('request shapes', () => {
  it('normalises occurredAt to UTC milliseconds, whatever zone it came in', () => {
    const parsed = eventBody.parse({ type: 'x', occurredAt: '2026-11-22T07:19:55+02:00' });
    expect(parsed.occurredAt).toBe('2026-11-22T05:19:55.000Z');
  });

  it('refuses impossible dates, times without a zone, and ids over 256 characters', () => {
    for (const occurredAt of [
      '2026-02-30T00:00:00Z',
      '2026-11-22T05:19:55',
      'now',
      '1999-12-31T23:59:59Z',
    ]) {
      expect(eventBody.safeParse({ type: 'x', occurredAt }).success, occurredAt).toBe(false);
    }
    const ok = {
      type: 'x'.repeat(256),
      occurredAt: '2026-11-22T05:19:55Z',
      eventId: 'e'.repeat(256),
    };
    expect(eventBody.safeParse(ok).success).toBe(true);
    expect(eventBody.safeParse({ ...ok, eventId: 'e'.repeat(257) }).success).toBe(false);
    expect(validateBody.safeParse({ userIds: ['a#b'] }).success).toBe(false);
  });
});
