/**
 * The clock seam. Domain code asks `clock.now()` instead of `Date.now()`, so tests (and the local
 * runtime's `/_local/clock` route) can move time past a lease or a reconciliation window without
 * sleeping. On AWS the offset is always zero.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

let offsetMs = 0;

export const systemClock: Clock = {
  now: () => Date.now() + offsetMs,
};

/** Moves the process clock forward (local runtime and tests only; see `/_local/clock`). */
export function advanceSystemClock(ms: number): number {
  offsetMs += ms;
  return offsetMs;
}

export function systemClockOffset(): number {
  return offsetMs;
}

/** A clock that only moves when told to: for unit and integration tests. */
export class ManualClock implements Clock {
  constructor(private current = Date.parse('2026-11-22T00:00:00.000Z')) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export function isoTime(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
