/**
 * The ledger items: what the store writes reads back as the same typed record, a fence-only member
 * item is no member, and a malformed item is refused naming the attribute.
 */
import { describe, expect, it } from 'vitest';
import {
  conversionItem,
  evidenceItem,
  keys,
  stayItem,
  toClosedStay,
  toConversion,
  toEvidence,
  toMember,
  toPendingRef,
} from '../../../functions/ledger/items.js';
import type { ClosedStay, ConversionItem, EvidenceItem } from '../../../functions/ledger/model.js';

const evidence: EvidenceItem = {
  tenantId: 't1',
  userId: 'u1',
  type: 'signature_obtained',
  evidenceId: 'e1',
  occurredAt: '2026-12-01T00:00:00.000Z',
  effectiveAt: '2026-12-01T00:00:00.000Z',
  receivedAt: '2026-12-01T00:00:01.000Z',
  state: 'pending',
};

describe('ledger items as stored', () => {
  it('evidence reads back as written, and its sweep entry names it', () => {
    const stored = evidenceItem(evidence);
    expect(stored).toMatchObject(keys.evidence(evidence));
    expect(toEvidence(stored)).toStrictEqual(evidence);
    expect(toPendingRef(stored)).toStrictEqual({
      tenantId: 't1',
      userId: 'u1',
      type: 'signature_obtained',
      evidenceId: 'e1',
    });
  });

  it('applied evidence carries no sweep or listing keys', () => {
    expect(evidenceItem({ ...evidence, state: 'applied' })).not.toHaveProperty('sweepPk');
  });

  it('stays and conversions read back as written', () => {
    const stay: ClosedStay = {
      tenantId: 't1',
      queueType: 'unsigned_users',
      userId: 'u1',
      eventType: 'signature_obtained',
      stayNo: 2,
      stayId: 'st_1',
      joinedAt: '2026-12-01T00:00:00.000Z',
      leftAt: '2026-12-02T00:00:00.000Z',
      leftBy: 'removal',
    };
    const conversion: ConversionItem = {
      conversionId: 'c1',
      tenantId: 't1',
      userId: 'u1',
      type: 'signature_obtained',
      queueType: 'unsigned_users',
      stayId: 'st_1',
      stayNo: 2,
      source: 'event',
      occurredAt: '2026-12-01T00:00:00.000Z',
      loggedAt: '2026-12-01T00:00:02.000Z',
      evidenceId: 'e1',
    };
    expect(stayItem(stay).sk).toBe('S#u1#0000000002');
    expect(toClosedStay(stayItem(stay))).toStrictEqual(stay);
    expect(toConversion(conversionItem(conversion))).toStrictEqual(conversion);
  });

  it('a fence-only member item (evidence before any join) is no member', () => {
    const fence = { ...keys.member('t1', 'q', 'u1'), noStayThrough: '2026-12-01T00:00:00.000Z' };
    expect(toMember(fence)).toBeUndefined();
  });

  it('evidence in a state it cannot have is refused, naming the attribute', () => {
    const stored = { ...evidenceItem(evidence), state: 'maybe' };
    expect(() => toEvidence(stored)).toThrow(/state/);
  });
});
