import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deduplicationId, groupId } from '../../../functions/kernel/fifo.js';

describe('FIFO identities', () => {
  it('derive the deduplication id from the identity alone', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), (identity) => {
        const id = deduplicationId(identity);
        expect(id).toBe(deduplicationId(identity));
        expect(id).toMatch(/^[0-9a-f]{64}$/);
      }),
    );
  });

  it('give different identities different ids', () => {
    expect(deduplicationId('job:m1:lead_match')).not.toBe(deduplicationId('job:m1:ai_triage'));
  });

  it('keep valid group ids and hash the rest to something SQS accepts', () => {
    expect(groupId('campaign-7:3')).toBe('campaign-7:3');
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (raw) => {
        expect(groupId(raw)).toMatch(/^[\x21-\x7e]{1,128}$/);
      }),
    );
  });
});
