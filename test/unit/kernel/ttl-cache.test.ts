import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { TtlCache } from '../../../functions/kernel/ttl-cache.js';

/** A loader that counts its reads and answers from a mutable store. */
function counted(store: Map<string, string>) {
  const reads: string[] = [];
  return {
    reads,
    load: (key: string) => async () => {
      reads.push(key);
      return store.get(key);
    },
  };
}

describe('TtlCache', () => {
  it('serves a found value without reading again until the ttl passes, then reads the change', async () => {
    // Prepare
    const clock = new ManualClock();
    const store = new Map([['pn1', 'tenant-a']]);
    const loader = counted(store);
    const cache = new TtlCache<string>({ ttlMs: 60_000, clock });
    // Act
    const first = await cache.get('pn1', loader.load('pn1'));
    store.set('pn1', 'tenant-b');
    clock.advance(59_999);
    const within = await cache.get('pn1', loader.load('pn1'));
    clock.advance(1);
    const after = await cache.get('pn1', loader.load('pn1'));
    // Assess
    expect([first, within, after]).toEqual(['tenant-a', 'tenant-a', 'tenant-b']);
    expect(loader.reads).toEqual(['pn1', 'pn1']);
  });

  it('reads again after forget, within the ttl', async () => {
    const clock = new ManualClock();
    const store = new Map([['k', 'old']]);
    const loader = counted(store);
    const cache = new TtlCache<string>({ ttlMs: 60_000, clock });
    expect(await cache.get('k', loader.load('k'))).toBe('old');
    store.set('k', 'new');
    cache.forget('k');
    expect(await cache.get('k', loader.load('k'))).toBe('new');
    expect(loader.reads).toHaveLength(2);
  });

  it('never remembers a miss: a value added after a miss is found on the next call', async () => {
    const clock = new ManualClock();
    const store = new Map<string, string>();
    const loader = counted(store);
    const cache = new TtlCache<string>({ ttlMs: 60_000, clock });
    expect(await cache.get('pn2', loader.load('pn2'))).toBeUndefined();
    store.set('pn2', 'tenant-c');
    expect(await cache.get('pn2', loader.load('pn2'))).toBe('tenant-c');
    expect(loader.reads).toHaveLength(2);
  });

  it('never remembers a failed load', async () => {
    const clock = new ManualClock();
    const cache = new TtlCache<string>({ ttlMs: 60_000, clock });
    await expect(
      cache.get('pn3', async () => {
        throw new Error('throttled');
      }),
    ).rejects.toThrow('throttled');
    expect(await cache.get('pn3', async () => 'tenant-d')).toBe('tenant-d');
  });

  it('shares one load between concurrent lookups of a key', async () => {
    const clock = new ManualClock();
    const loader = counted(new Map([['pn4', 'tenant-e']]));
    const cache = new TtlCache<string>({ ttlMs: 60_000, clock });
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => cache.get('pn4', loader.load('pn4'))),
    );
    expect(answers).toEqual(Array(5).fill('tenant-e'));
    expect(loader.reads).toHaveLength(1);
  });

  it('reads every time when the ttl is 0, and keeps at most maxEntries', async () => {
    const clock = new ManualClock();
    const store = new Map([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
    const off = counted(store);
    const disabled = new TtlCache<string>({ ttlMs: 0, clock });
    await disabled.get('a', off.load('a'));
    await disabled.get('a', off.load('a'));
    expect(off.reads).toEqual(['a', 'a']);

    const small = counted(store);
    const bounded = new TtlCache<string>({ ttlMs: 60_000, clock, maxEntries: 2 });
    for (const key of ['a', 'b', 'c', 'a']) await bounded.get(key, small.load(key));
    // 'a' was evicted by 'c' (the oldest of three), so it was read twice.
    expect(small.reads).toEqual(['a', 'b', 'c', 'a']);
  });
});
