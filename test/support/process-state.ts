/**
 * Process-wide state one test can leave behind for the next: the clock seam's offset
 * (`functions/kernel/clock.ts`) and environment variables. Tests that share a worker in one file
 * (the crash matrix runs every pipeline's flows in turn) restore what they move, with
 * `withClockRestored` in a `finally`; the matrix checks between cases with `snapshotProcessState` /
 * `restoreProcessState`, so a leak fails the case that leaked instead of a later, innocent one.
 */
import { advanceSystemClock, systemClockOffset } from '../../functions/kernel/clock.js';

/** Moves the clock seam back to `offsetMs` (the kernel only exposes relative moves). */
export function setSystemClockOffset(offsetMs: number): void {
  advanceSystemClock(offsetMs - systemClockOffset());
}

/** Runs `fn`, then puts the clock seam back where it was, whether `fn` succeeded or threw. */
export async function withClockRestored<T>(fn: () => Promise<T>): Promise<T> {
  const offset = systemClockOffset();
  try {
    return await fn();
  } finally {
    setSystemClockOffset(offset);
  }
}

export interface ProcessStateSnapshot {
  readonly clockOffsetMs: number;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function snapshotProcessState(): ProcessStateSnapshot {
  return { clockOffsetMs: systemClockOffset(), env: { ...process.env } };
}

/**
 * Puts the clock offset and the environment back as `snapshot` found them and returns a line per
 * thing that had changed (empty when nothing had). `keepEnv` names variables that may be set
 * once and stay set (e.g. pointing at a simulator cached for the worker's lifetime); they are
 * neither reported nor undone.
 */
export function restoreProcessState(
  snapshot: ProcessStateSnapshot,
  keepEnv: readonly string[] = [],
): string[] {
  const changed: string[] = [];
  const offset = systemClockOffset();
  if (offset !== snapshot.clockOffsetMs) {
    changed.push(`clock offset ${snapshot.clockOffsetMs} ms → ${offset} ms`);
    setSystemClockOffset(snapshot.clockOffsetMs);
  }
  const names = new Set([...Object.keys(snapshot.env), ...Object.keys(process.env)]);
  for (const name of names) {
    if (keepEnv.includes(name)) continue;
    const before = snapshot.env[name];
    if (process.env[name] === before) continue;
    // Names only: values may be secrets or tokens.
    changed.push(`env ${name} ${before === undefined ? 'set' : 'changed or removed'}`);
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
  return changed;
}
