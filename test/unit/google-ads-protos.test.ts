/**
 * The Google Ads error codes onceflow reads and the simulator answers are Google's own: every one is
 * a value of the enum Google's protos (`google-ads-node`'s `build/protos/protos.json`) give the
 * `ErrorCode` field it is sent under. The requests and answers themselves are validated against the
 * protos in test/integration/oci/oci-provider.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ADJUSTMENT_LATER,
  ALREADY_APPLIED,
  COUNTED_BY_CLICK,
  TOO_RECENT,
} from '../../functions/oci/error-mapping.js';
import { int64String } from '../../functions/oci/google-ads-client.js';
import { googleJobId } from '../../lib/local/sim/google-ads.js';
import { ads, enumValues, googleAdsRoot, protoJsonProblems } from '../support/google-ads-protos.js';

const SIMULATOR = new URL('../../lib/local/sim/google-ads.ts', import.meta.url);

/** `conversionUploadError` → the enum Google's `ErrorCode.conversion_upload_error` takes. */
function enumOfErrorField(jsonField: string): string {
  const errorCode = googleAdsRoot().lookupType(ads('errors.ErrorCode'));
  const snake = jsonField.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const field = errorCode.fields[snake];
  if (!field) throw new Error(`ErrorCode has no field ${snake}`);
  return field.resolve().resolvedType?.fullName.slice(1) ?? '';
}

/** Every (ErrorCode field, code) pair a simulator source can answer with. */
function simulatorErrorCodes(source: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const m of source.matchAll(/\b([a-z][A-Za-z]*Error): '([A-Z0-9_]+)'/g)) {
    pairs.push([m[1] as string, m[2] as string]);
  }
  // `fail('CODE', message, kind?)` of the adjustments, `conversionAdjustmentUploadError` unless named.
  for (const m of source.matchAll(/\bfail\(\s*'([A-Z0-9_]+)',\s*'[^']*',?\s*(?:'([a-zA-Z]+)')?/g)) {
    pairs.push([m[2] ?? 'conversionAdjustmentUploadError', m[1] as string]);
  }
  // The unparseable click, by its kind.
  if (source.includes('`UNPARSEABLE_${')) {
    for (const kind of ['GCLID', 'GBRAID', 'WBRAID']) {
      pairs.push(['conversionUploadError', `UNPARSEABLE_${kind}`]);
    }
  }
  return pairs;
}

function codesNotInEnums(pairs: ReadonlyArray<[string, string]>): string[] {
  return pairs
    .filter(([field, code]) => !enumValues(enumOfErrorField(field)).includes(code))
    .map(([field, code]) => `${field}: ${code}`);
}

describe("Google's error codes", () => {
  it('every per-row code the ack and the uploader map is in ConversionUploadError or ConversionAdjustmentUploadError', () => {
    const known = new Set([
      ...enumValues(ads('errors.ConversionUploadErrorEnum.ConversionUploadError')),
      ...enumValues(
        ads('errors.ConversionAdjustmentUploadErrorEnum.ConversionAdjustmentUploadError'),
      ),
    ]);
    const mapped = [...ALREADY_APPLIED, ...COUNTED_BY_CLICK, ...TOO_RECENT, ...ADJUSTMENT_LATER];
    expect(mapped.filter((code) => !known.has(code))).toEqual([]);
  });

  it('the simulator answers only with codes of the enum its ErrorCode field takes', () => {
    const pairs = simulatorErrorCodes(readFileSync(SIMULATOR, 'utf8'));
    expect(pairs.length).toBeGreaterThan(15);
    expect(codesNotInEnums(pairs)).toEqual([]);
  });

  it('the checker catches an invented code (the simulator before this change had five)', () => {
    const before = simulatorErrorCodes(
      readFileSync(new URL('../fixtures/google-ads-sim-before.txt', import.meta.url), 'utf8'),
    );
    expect(codesNotInEnums(before).sort()).toEqual([
      'authenticationError: DEVELOPER_TOKEN_PARAMETER_MISSING',
      'conversionAdjustmentUploadError: INVALID_ADJUSTMENT_TYPE',
      'conversionAdjustmentUploadError: INVALID_CONVERSION_ACTION',
      'dateError: INVALID_FIELD_FORMAT',
      'requestError: INVALID_ARGUMENT',
    ]);
  });
});

describe('int64 in the REST JSON mapping', () => {
  it('job ids are picked in [2^31, 2^63) and travel as decimal strings', () => {
    for (let i = 0; i < 1000; i++) {
      const id = googleJobId();
      expect(id).toMatch(/^\d+$/);
      expect(BigInt(id) >= 2n ** 31n && BigInt(id) < 2n ** 63n).toBe(true);
    }
    const answer = { results: [{}], jobId: googleJobId() };
    expect(protoJsonProblems(ads('services.UploadClickConversionsResponse'), answer)).toEqual([]);
    expect(
      protoJsonProblems(ads('services.UploadClickConversionsResponse'), { results: [], jobId: 42 }),
    ).toEqual(['UploadClickConversionsResponse.jobId: int64 must be a decimal string, got 42']);
  });

  it('the client keeps the largest job id digit for digit', () => {
    expect(int64String('9223372036854775807')).toBe('9223372036854775807');
    expect(int64String(12345)).toBe('12345');
    expect(int64String('12e3')).toBeUndefined();
  });
});
