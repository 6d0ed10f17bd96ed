/**
 * The OCI items: what the store writes reads back as the same typed record (no key or index
 * attribute leaks into it), and a malformed item is refused naming the attribute, never its value.
 */
import { describe, expect, it } from 'vitest';
import { MalformedItemError } from '../../../functions/kernel/item-reader.js';
import {
  adjustmentItem,
  conversionItem,
  keys,
  toCandidate,
  toRow,
} from '../../../functions/oci/items.js';
import type { Adjustment, Conversion } from '../../../functions/oci/model.js';

const conversion: Conversion = {
  kind: 'conversion',
  tenantId: 't1',
  conversionId: 'cv1',
  orderId: 'oc123',
  conversionName: 'Calls',
  conversionAction: 'customers/1234567890/conversionActions/9',
  customerId: '1234567890',
  uploadMode: 'api',
  status: 'queued',
  attempts: 0,
  createdAt: '2026-12-01T00:00:00.000Z',
  notBefore: '2026-12-01T06:00:00.000Z',
  sessionId: 's1',
  callId: 'call1',
  clickKind: 'gclid',
  clickId: 'Cj0K',
  conversionTime: '2026-12-01T00:00:00.000Z',
  value: 12.5,
  currency: 'EUR',
};

const retraction: Adjustment = {
  kind: 'adjustment',
  tenantId: 't1',
  conversionId: 'cv1',
  orderId: 'oc123',
  conversionName: 'Calls',
  customerId: '1234567890',
  uploadMode: 'script',
  status: 'failed',
  attempts: 0,
  createdAt: '2026-12-02T00:00:00.000Z',
  notBefore: '2026-12-02T00:00:00.000Z',
  adjustmentType: 'RETRACTION',
  adjustmentTime: '2026-12-02T00:00:00.000Z',
  conversionTime: '2026-12-01T00:00:00.000Z',
  lastError: 'TOO_OLD',
};

describe('OCI rows as stored', () => {
  it('read back as the row written, without key, listing or sweep attributes', () => {
    const stored = conversionItem(conversion);
    expect(stored).toMatchObject({
      ...keys.row('t1', 'cv1', 'conversion'),
      sweepAt: conversion.notBefore,
    });
    expect(toRow(stored)).toStrictEqual(conversion);
    expect(toRow(adjustmentItem(retraction))).toStrictEqual(retraction);
  });

  it('a retraction refused at once waits in no sweep; a pending one does', () => {
    expect(adjustmentItem(retraction)).not.toHaveProperty('sweepPk');
    expect(adjustmentItem({ ...retraction, status: 'queued' })).toHaveProperty('sweepPk');
  });

  it('a row with a status it cannot have is refused, naming the attribute and not its value', () => {
    const stored = { ...conversionItem(conversion), status: 'sent-twice' };
    expect(() => toRow(stored)).toThrow(MalformedItemError);
    expect(() => toRow(stored)).toThrow(/status/);
    expect(() => toRow(stored)).not.toThrow(/sent-twice/);
  });

  it('a sweep entry without its customer is refused, never sent to an empty customer id', () => {
    const { customerId: _, ...entry } = conversionItem(conversion);
    expect(() => toCandidate(entry)).toThrow(/customerId/);
  });
});
