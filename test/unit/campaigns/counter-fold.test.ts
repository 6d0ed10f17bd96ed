/**
 * The counter fold's pure parts: what a stream record moves (from its old and new images), and the
 * sequence-number order its guard relies on (DynamoDB compares the padded strings).
 */
import { describe, expect, it } from 'vitest';
import { foldSeqOf } from '../../../functions/campaigns/campaign-store-fold.js';
import { deltasOf } from '../../../functions/campaigns/counter-fold.js';
import {
  countedImage,
  foldGroupOf,
  foldSeqAttribute,
  foldSeqKey,
  keys,
  SHARDS,
  shardsOfGroup,
} from '../../../functions/campaigns/items.js';
import { newCampaignId, RECIPIENT_STATUSES } from '../../../functions/campaigns/model.js';

const recipient = (status: string, extra: Record<string, unknown> = {}) => ({
  pk: 'CR#t1#c1#07',
  sk: 'R#+972501234567',
  kind: 'recipient',
  tenantId: 't1',
  campaignId: 'c1',
  phone: '+972501234567',
  status,
  attempts: 0,
  createdAt: '2026-12-07T00:00:00.000Z',
  updatedAt: '2026-12-07T00:00:00.000Z',
  ...extra,
});

describe('what a recipient record moves in its shard counts', () => {
  it('an arrival adds the contact and its status; a move takes one status for another', () => {
    const pending = countedImage(recipient('pending'));
    const sending = countedImage(recipient('sending'));
    expect(pending).toEqual({ tenantId: 't1', campaignId: 'c1', shard: 7, status: 'pending' });
    expect(deltasOf(undefined, pending)).toEqual({ recipients: 1, pending: 1 });
    expect(deltasOf(pending, sending)).toEqual({ pending: -1, sending: 1 });
    expect(deltasOf(sending, undefined)).toEqual({ recipients: -1, sending: -1 });
  });

  it('a write that leaves the status as it was (a lease, a re-ring, a kept wamid) moves nothing', () => {
    const before = countedImage(recipient('sending'));
    const after = countedImage(recipient('sending', { providerMessageId: 'wamid.x', ring: 2 }));
    expect(deltasOf(before, after)).toEqual({});
  });

  it('counts only recipients: the campaign, counters, marks and folded counts are not', () => {
    expect(countedImage({ pk: 'CAMPAIGN#t1#c1', sk: 'META', kind: 'campaign' })).toBeUndefined();
    expect(countedImage({ pk: 'CF#t1#c1#07', sk: 'FOLD', pending: 3 })).toBeUndefined();
    expect(countedImage(undefined)).toBeUndefined();
  });

  it('a recipient image that does not read is an error naming the attribute, not a silent skip', () => {
    expect(() => countedImage(recipient('nonsense'))).toThrow(/status/);
  });
});

describe('the fold guard compares sequence numbers as numbers', () => {
  it('pads to the 40 digits of the API so that string order is number order', () => {
    const shorter = '9'.repeat(21);
    const longer = `1${'0'.repeat(21)}`;
    expect(shorter > longer).toBe(true); // as raw strings the order is wrong
    expect(foldSeqOf(shorter) < foldSeqOf(longer)).toBe(true);
    expect(foldSeqOf(longer)).toHaveLength(40);
  });

  it('a fold group stores them in base 36, 26 characters, in the same order as the numbers', () => {
    const max = '9'.repeat(40);
    expect(foldSeqKey(max)).toHaveLength(26);
    expect(foldSeqKey('0')).toHaveLength(26);
    // Neighbours across every length the API allows, and random pairs: string order is number order.
    const numbers: bigint[] = [0n, 1n, 35n, 36n, 10n ** 20n, 10n ** 21n - 1n, 10n ** 21n];
    for (let i = 0; i < 500; i++) {
      const digits = 21 + Math.floor(Math.random() * 20);
      let n = '';
      for (let d = 0; d < digits; d++) n += String(Math.floor(Math.random() * 10));
      numbers.push(BigInt(n));
    }
    numbers.push(BigInt(max));
    const sorted = [...numbers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const byKey = [...numbers].sort((a, b) => {
      const [x, y] = [foldSeqKey(a.toString()), foldSeqKey(b.toString())];
      return x < y ? -1 : x > y ? 1 : 0;
    });
    expect(byKey).toEqual(sorted);
    // The padded decimal form of before the groups and this one agree on order.
    expect(foldSeqKey('000000000000000000001') < foldSeqKey('10')).toBe(true);
  });

  it('refuses what is not a sequence number instead of comparing it wrongly', () => {
    expect(() => foldSeqKey('1'.repeat(41))).toThrow(RangeError);
    expect(() => foldSeqKey('12a')).toThrow(RangeError);
    expect(() => foldSeqKey('')).toThrow(RangeError);
  });
});

describe('fold groups', () => {
  it('every shard is in exactly one group, and each group holds its own shards', () => {
    const seen = new Set<number>();
    for (const group of [0, 1]) {
      for (const shard of shardsOfGroup(group)) {
        expect(foldGroupOf(shard)).toBe(group);
        expect(seen.has(shard)).toBe(false);
        seen.add(shard);
      }
    }
    expect(seen.size).toBe(SHARDS);
  });

  it('a full group item stays under 1 KB, one write unit, with a 256-byte tenant id (the longest a request carries)', () => {
    // DynamoDB's item size: each attribute's name (UTF-8) plus its value; a string its UTF-8
    // bytes, a number ~1 byte per two significant digits plus 1
    // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
    const size = (item: Record<string, string | number>) =>
      Object.entries(item).reduce(
        (n, [name, value]) =>
          n +
          Buffer.byteLength(name) +
          (typeof value === 'string'
            ? Buffer.byteLength(value)
            : Math.ceil(String(value).length / 2) + 1),
        0,
      );
    const group = 1;
    const item: Record<string, string | number> = {
      ...keys.foldedGroup('t'.repeat(256), newCampaignId(Date.now(), 'f'.repeat(16)), group),
    };
    // Every count at the 1,000,000-contact cap, every shard's sequence number at 40 digits.
    for (const field of ['recipients', ...RECIPIENT_STATUSES]) item[field] = 1_000_000;
    for (const shard of shardsOfGroup(group))
      item[foldSeqAttribute(shard)] = foldSeqKey('9'.repeat(40));
    expect(size(item)).toBeLessThanOrEqual(1024);
  });
});
