/** OCI rules with no network: Google's answers mapped, Google's formats, the order id. */
import { describe, expect, it } from 'vitest';
import { classifyAck, classifyGoogleError } from '../../functions/oci/error-mapping.js';
import { rowErrorsOf } from '../../functions/oci/google-ads-client.js';
import { googleTime, orderIdFor } from '../../functions/oci/model.js';
import { csvField, csvTime, exportCsv } from '../../functions/oci/script-export.js';
import { tenantConfigSchema } from '../../functions/tenants/tenant-config.js';

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
          conversionAction: 'customers/1234567890/conversionActions/1',
          conversionTime: '2026-11-22 05:19:55+00:00',
          csvConversionTime: '2026-11-22 05:19:55',
          value: 10,
          currency: 'USD',
        },
        {
          orderId: 'o2',
          wbraid: 'w2',
          conversionName: 'Calls',
          conversionAction: 'customers/1234567890/conversionActions/1',
          conversionTime: '2026-11-22 05:20:00+00:00',
          csvConversionTime: '2026-11-22 05:20:00',
          value: 5,
          currency: 'EUR',
        },
      ],
    }).split('\n');
    expect(csv[0]).toBe('Parameters:TimeZone=+0000');
    expect(csv[1]).toBe(
      'Google Click ID,GBRAID,WBRAID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency,Order ID',
    );
    expect(csv[2]).toBe('g1,,,"Calls, qualified",2026-11-22 05:19:55,10,USD,o1');
    expect(csv[3]).toBe(',,w2,Calls,2026-11-22 05:20:00,5,EUR,o2');
  });

  it("CSV times in the template's yyyy-MM-dd HH:mm:ss, in the file's +0000 zone", () => {
    expect(csvTime('2026-11-22T07:19:55+02:00')).toBe('2026-11-22 05:19:55');
  });

  it('the retraction file spells the type RETRACT, as the adjustment template does', () => {
    const csv = exportCsv({
      kind: 'adjustments',
      claimId: 'c',
      rows: [
        {
          orderId: 'o1',
          conversionName: 'Calls',
          conversionAction: 'customers/1234567890/conversionActions/1',
          adjustmentTime: '2026-11-23 06:00:00+00:00',
          csvAdjustmentTime: '2026-11-23 06:00:00',
          adjustmentType: 'RETRACTION',
          csvAdjustmentType: 'RETRACT',
        },
      ],
    }).split('\n');
    expect(csv[2]).toBe('o1,Calls,2026-11-23 06:00:00,RETRACT,,');
  });
});

describe('formula injection (OWASP CSV Injection)', () => {
  // https://owasp.org/www-community/attacks/CSV_Injection: cells starting with =, +, -, @, tab or
  // carriage return; and their full-width forms.
  it.each([
    '=HYPERLINK("http://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    '-2+3',
    '@SUM(1+1)',
    '\t=1',
    '\r=1',
    '\uFF1D1+1',
    '\uFF0B1',
    '\uFF0D1',
    '\uFF20SUM(1)',
  ])('a cell starting %j is text: quoted, after a leading quote', (value) => {
    const cell = csvField(value);
    expect(cell.startsWith(`"'`)).toBe(true);
    // Nothing lost: only apostrophes added (one more after a leading tab or carriage return).
    const apostrophes = (s: string) => s.replaceAll("'", '');
    expect(apostrophes(cell.slice(2, -1).replaceAll('""', '"'))).toBe(apostrophes(value));
  });

  it('a conversion name that is a formula leaves the export as text', () => {
    const csv = exportCsv({
      kind: 'conversions',
      claimId: 'c',
      rows: [
        {
          orderId: 'o1',
          gclid: 'Cj0K-1',
          conversionName: '=HYPERLINK("http://evil.example")',
          conversionAction: 'customers/1234567890/conversionActions/1',
          conversionTime: '2026-11-22 05:19:55+00:00',
          csvConversionTime: '2026-11-22 05:19:55',
          value: 1,
          currency: 'USD',
        },
      ],
    }).split('\n');
    expect(csv[2]).toBe(
      'Cj0K-1,"\'=HYPERLINK(""http://evil.example"")",2026-11-22 05:19:55,1,USD,o1',
    );
  });

  /**
   * The cells a spreadsheet makes of one line when it splits on `separator` and honours RFC 4180
   * quotes only at a cell's start (Excel and LibreOffice do), trimming leading blanks and control
   * characters as LibreOffice's "Trim spaces" does.
   */
  function cellsAsRead(line: string, separator: string): string[] {
    const cells: string[] = [];
    let i = 0;
    while (i <= line.length) {
      let cell = '';
      if (line[i] === '"') {
        i += 1;
        while (i < line.length && !(line[i] === '"' && line[i + 1] !== '"')) {
          cell += line[i];
          i += line[i] === '"' ? 2 : 1;
        }
        i += 1;
      }
      while (i < line.length && line[i] !== separator) cell += line[i++];
      cells.push(cell.replace(/^[\s\p{Cc}]+/u, ''));
      i += 1;
    }
    return cells;
  }

  it.each([
    ['a semicolon-locale spreadsheet', "Calls;=cmd|' /C calc'!A0;x", ';'],
    ['a tab-separated reading', "Calls\t@SUM(1+1)*cmd|' /C calc'!A0", '\t'],
    ['a line break inside the name', 'Calls\n=HYPERLINK("http://evil.example")', '\n'],
    ['a leading NUL (ASVS 5.0 V1.2.10)', '\u0000=1+1', ','],
    ['leading spaces (trimmed by the importer)', '  =1+1', ','],
    ['a leading line feed', '\n-2+3', ','],
  ])('a conversion name that starts a formula in %s stays text', (_, name, separator) => {
    const csv = exportCsv({
      kind: 'conversions',
      claimId: 'c',
      rows: [
        {
          orderId: 'o1',
          gclid: 'Cj0K1',
          conversionName: name,
          conversionAction: 'customers/1234567890/conversionActions/1',
          conversionTime: '2026-11-22 05:19:55+00:00',
          csvConversionTime: '2026-11-22 05:19:55',
          value: 1,
          currency: 'USD',
        },
      ],
    });
    const lines = csv.split(separator === '\n' ? /\r?\n|\r/ : '\n').slice(2);
    const cells = lines.flatMap((line) => cellsAsRead(line, separator === '\n' ? ',' : separator));
    expect(cells.filter((cell) => /^[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/.test(cell))).toEqual([]);
  });

  it('plain cells stay as they are; numbers are never prefixed', () => {
    expect(csvField('Cj0KCQiA_x-y')).toBe('Cj0KCQiA_x-y');
    expect(csvField(-5)).toBe('-5');
  });
});

describe('tenant configuration', () => {
  const base = { name: 'T', defaultCountry: 'IL' };
  it('WhatsApp phone number ids are digits only (a `..` would climb the Graph path)', () => {
    for (const bad of ['..', '../me', 'a/b', '12 34', 'pn-1']) {
      const parsed = tenantConfigSchema.safeParse({ ...base, whatsapp: { phoneNumberIds: [bad] } });
      expect(parsed.success, bad).toBe(false);
    }
    expect(
      tenantConfigSchema.safeParse({ ...base, whatsapp: { phoneNumberIds: ['106540352242922'] } })
        .success,
    ).toBe(true);
  });

  it("script mode needs the conversion action's name; api mode does not", () => {
    const googleAds = {
      customerId: '1234567890',
      conversionAction: 'customers/1234567890/conversionActions/42',
    };
    const script = tenantConfigSchema.safeParse({
      ...base,
      googleAds: { ...googleAds, uploadMode: 'script' },
    });
    expect(script.success).toBe(false);
    expect(JSON.stringify(script.error?.issues)).toContain('conversionName');
    expect(
      tenantConfigSchema.safeParse({
        ...base,
        googleAds: { ...googleAds, uploadMode: 'script', conversionName: 'Qualified call' },
      }).success,
    ).toBe(true);
    expect(
      tenantConfigSchema.safeParse({ ...base, googleAds: { ...googleAds, uploadMode: 'api' } })
        .success,
    ).toBe(true);
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
