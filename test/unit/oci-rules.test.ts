/** OCI rules with no network: Google's answers mapped, Google's formats, the order id. */
import { describe, expect, it } from 'vitest';
import { classifyAck, classifyGoogleError } from '../../functions/oci/error-mapping.js';
import { rowErrorsOf } from '../../functions/oci/google-ads-client.js';
import { googleTime, orderIdFor } from '../../functions/oci/model.js';
import { exportCsv } from '../../functions/oci/script-export.js';

describe('Google answers', () => {
  it.each([
    ['ORDER_ID_ALREADY_IN_USE', 'completed'],
    ['DUPLICATE_ORDER_ID', 'completed'],
    ['CLICK_CONVERSION_ALREADY_EXISTS', 'completed'],
    ['TOO_RECENT_EVENT', 'retry'],
    ['TOO_RECENT_CONVERSION_ACTION', 'retry'],
    ['UNPARSEABLE_GCLID', 'failed'],
    ['EXPIRED_EVENT', 'failed'],
    ['CONVERSION_EXPIRED', 'failed'],
    ['CONVERSION_ALREADY_RETRACTED', 'completed'],
  ])('%s → %s', (code, to) => {
    expect(classifyGoogleError(code).to).toBe(to);
  });

  it('too recent waits six hours; the error decides whatever status says', () => {
    const outcome = classifyAck('failed', 'TOO_RECENT_EVENT');
    expect(outcome).toEqual({ to: 'retry', waitMs: 6 * 3600_000, error: 'TOO_RECENT_EVENT' });
    expect(classifyAck('failed', 'ORDER_ID_ALREADY_IN_USE').to).toBe('completed');
    expect(classifyAck('completed', 'UNPARSEABLE_GCLID')).toEqual({
      to: 'failed',
      error: 'UNPARSEABLE_GCLID',
    });
    expect(classifyAck('retry')).toEqual({ to: 'retry', waitMs: 0 });
  });

  it('partialFailureError is read by the index in fieldPathElements', () => {
    const body = {
      results: [{}, { gclid: 'b' }, {}],
      partialFailureError: {
        code: 3,
        details: [
          {
            errors: [
              {
                errorCode: { conversionUploadError: 'TOO_RECENT_EVENT' },
                location: {
                  fieldPathElements: [
                    { fieldName: 'conversions', index: 2 },
                    { fieldName: 'gclid' },
                  ],
                },
              },
              {
                errorCode: { conversionUploadError: 'UNPARSEABLE_GCLID' },
                location: { fieldPathElements: [{ fieldName: 'conversions', index: 0 }] },
              },
            ],
          },
        ],
      },
    };
    expect([...rowErrorsOf(body, 'conversions').entries()].sort()).toEqual([
      [0, 'UNPARSEABLE_GCLID'],
      [2, 'TOO_RECENT_EVENT'],
    ]);
    expect(rowErrorsOf({ results: [{}] }, 'conversions').size).toBe(0);
  });
});

describe('formats', () => {
  it("conversion times in Google's format", () => {
    expect(googleTime('2026-11-22T05:19:55.000Z')).toBe('2026-11-22 05:19:55+00:00');
    expect(googleTime('2026-11-22T07:19:55+02:00')).toBe('2026-11-22 05:19:55+00:00');
  });

  it('CSV: time zone line, header, braids in their own columns, quoting', () => {
    const csv = exportCsv({
      kind: 'conversions',
      claimId: 'c',
      rows: [
        {
          orderId: 'o1',
          gclid: 'g1',
          conversionName: 'Calls, qualified',
          conversionTime: '2026-11-22 05:19:55+00:00',
          value: 10,
          currency: 'USD',
        },
        {
          orderId: 'o2',
          wbraid: 'w2',
          conversionName: 'Calls',
          conversionTime: '2026-11-22 05:20:00+00:00',
          value: 5,
          currency: 'EUR',
        },
      ],
    }).split('\n');
    expect(csv[0]).toBe('Parameters:TimeZone=+0000');
    expect(csv[1]).toBe(
      'Google Click ID,GBRAID,WBRAID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency,Order ID',
    );
    expect(csv[2]).toBe('g1,,,"Calls, qualified",2026-11-22 05:19:55+00:00,10,USD,o1');
    expect(csv[3]).toBe(',,w2,Calls,2026-11-22 05:20:00+00:00,5,EUR,o2');
  });
});

describe('orderId', () => {
  it('is deterministic per tenant and session, ≤ 64 letters and digits, and hides both', () => {
    const id = orderIdFor('tenant-a', '+972501234567');
    expect(orderIdFor('tenant-a', '+972501234567')).toBe(id);
    expect(orderIdFor('tenant-b', '+972501234567')).not.toBe(id);
    expect(orderIdFor('tenant-a', '+972501234568')).not.toBe(id);
    expect(id).toMatch(/^[a-z0-9]{1,64}$/);
    expect(id).not.toContain('972501234567');
  });
});
