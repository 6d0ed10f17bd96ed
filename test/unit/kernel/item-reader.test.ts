import { describe, expect, it } from 'vitest';
import { itemReader, MalformedItemError } from '../../../functions/kernel/item-reader.js';

describe('itemReader', () => {
  it('reads each attribute as its type, absent optionals as undefined', () => {
    // Prepare
    const read = itemReader(
      { name: 'Spring', n: 3, status: 'draft', done: true, template: { name: 't' }, list: [1] },
      'campaign',
    );
    // Act / Assess
    expect(read.string('name')).toBe('Spring');
    expect(read.optionalString('nickname')).toBeUndefined();
    expect(read.number('n')).toBe(3);
    expect(read.numberOr('attempts', 0)).toBe(0);
    expect(read.oneOf('status', ['draft', 'running'] as const)).toBe('draft');
    expect(read.optionalBoolean('done')).toBe(true);
    expect(read.map('template')).toEqual({ name: 't' });
    expect(read.optionalList('list')).toEqual([1]);
  });

  it('refuses a missing or mistyped attribute, naming the kind and attribute but never the value', () => {
    // Prepare
    const read = itemReader({ phone: '+972501234567', status: 'lost', n: 'seven' }, 'recipient');
    // Act / Assess
    expect(() => read.number('phone')).toThrow(MalformedItemError);
    expect(() => read.number('phone')).toThrow('recipient item: phone is a string, not a number');
    expect(() => read.number('phone')).not.toThrow(/972/);
    expect(() => read.string('tenantId')).toThrow('recipient item: tenantId is missing');
    expect(() => read.oneOf('status', ['pending', 'sent'])).toThrow(/one of pending, sent/);
    expect(() => read.optionalNumber('n')).toThrow(MalformedItemError);
    expect(() => read.map('phone')).toThrow(/not a map/);
  });
});
