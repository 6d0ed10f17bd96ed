/**
 * `TtlCache`: remembers what a loader found for a bounded time in a warm Lambda container, so a
 * lookup that rarely changes (which tenant owns a WhatsApp phone number id) is not read again on
 * every delivery. Only found values are kept (a miss is read again next time, so a newly added
 * value is seen at once); concurrent lookups of one key share one load; the oldest entry is evicted
 * past `maxEntries`. A value may be stale for up to `ttlMs` after it changes in the store: use it
 * only where that is acceptable and say so where it is used.
 */
import type { Clock } from './clock.js';

export interface TtlCacheOptions {
  /** How long a found value is served without reading again; 0 turns the cache off. */
  readonly ttlMs: number;
  readonly clock: Clock;
  /** @default 1000 */
  readonly maxEntries?: number;
}

export class TtlCache<V> {
  private readonly entries = new Map<string, { value: Promise<V | undefined>; until: number }>();

  constructor(private readonly options: TtlCacheOptions) {}

  /** Forgets `key`, so the next `get` reads it (e.g. once a write showed it stale). */
  forget(key: string): void {
    this.entries.delete(key);
  }

  get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    if (this.options.ttlMs <= 0) return load();
    const now = this.options.clock.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value;
    this.entries.delete(key);
    const value = load();
    this.entries.set(key, { value, until: now + this.options.ttlMs });
    // A miss or a failed load is not remembered.
    value.then(
      (found) => {
        if (found === undefined && this.entries.get(key)?.value === value) this.entries.delete(key);
      },
      () => {
        if (this.entries.get(key)?.value === value) this.entries.delete(key);
      },
    );
    const max = this.options.maxEntries ?? 1000;
    while (this.entries.size > max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return value;
  }
}
