/**
 * The clock seam. Domain code asks `clock.now()` instead of `Date.now()`, so tests (and the local
 * runtime's `/_local/clock` route) can move time past a lease or a reconciliation window without
 * sleeping. On AWS the offset is always zero.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/**
 * Where the offset lives. By default in this module: one process. The local runtime runs every
 * function in a worker thread of its own and installs one offset shared by all of them (and by its
 * `/_local/clock` route) under {@link CLOCK_OFFSET} before a handler module loads
 * (`lib/local/function-control.ts`). Nothing installs one on AWS.
 */
export interface ClockOffset {
  /** Milliseconds the clock runs ahead of the system time. */
  get(): number;
  /** Moves the clock `ms` further ahead; returns the new offset. */
  advance(ms: number): number;
}

/** The global a shared offset is installed under (`Symbol.for`, so every bundle finds it). */
export const CLOCK_OFFSET = Symbol.for('onceflow.clock-offset');

let offsetMs = 0;
const ownOffset: ClockOffset = {
  get: () => offsetMs,
  advance(ms) {
    offsetMs += ms;
    return offsetMs;
  },
};

function offset(): ClockOffset {
  return (
    ((globalThis as Record<symbol, unknown>)[CLOCK_OFFSET] as ClockOffset | undefined) ?? ownOffset
  );
}

export const systemClock: Clock = {
  now: () => Date.now() + offset().get(),
};

/** Moves the process clock forward (local runtime and tests only; see `/_local/clock`). */
export function advanceSystemClock(ms: number): number {
  return offset().advance(ms);
}

export function systemClockOffset(): number {
  return offset().get();
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
