/**
 * Named failpoints between durable effects. `failpoint('campaign.after-claim')` throws a
 * `FailpointCrashError` when that point is armed, exactly as a crash at that line would leave things:
 * whatever was written before stays written, nothing after happens.
 *
 * Points are declared at module load with `defineFailpoint` so the local runtime can list every one
 * of them (`GET /_local/failpoints`) before any has been reached. Arming only works when
 * `ONCEFLOW_FAILPOINTS=on` (the local runtime and tests set it); in the deployed bundle the variable is
 * never set and `failpoint()` is a no-op.
 */

export class FailpointCrashError extends Error {
  constructor(readonly point: string) {
    super(`failpoint ${point} fired`);
    this.name = 'FailpointCrashError';
  }
}

export interface FailpointArming {
  /** 0..1, chance that each pass through the point crashes. */
  readonly probability: number;
  /** Fire at most this many times, then disarm. @default unlimited */
  readonly times?: number;
}

interface ArmedPoint {
  probability: number;
  remaining: number;
  fired: number;
}

const declared = new Map<string, string>();
const armed = new Map<string, ArmedPoint>();
const firedCounts = new Map<string, number>();

function enabled(): boolean {
  return process.env.ONCEFLOW_FAILPOINTS === 'on';
}

/** Declares a failpoint name (with a sentence on where it sits) and returns the name. */
export function defineFailpoint(name: string, where: string): string {
  declared.set(name, where);
  return name;
}

/** Crashes here when this point is armed. */
export function failpoint(name: string): void {
  if (!enabled()) return;
  const point = armed.get(name);
  if (!point || point.remaining <= 0) return;
  if (Math.random() >= point.probability) return;
  point.remaining -= 1;
  point.fired += 1;
  firedCounts.set(name, (firedCounts.get(name) ?? 0) + 1);
  throw new FailpointCrashError(name);
}

export function listFailpoints(): Array<{
  name: string;
  where: string;
  armed: FailpointArming | null;
  fired: number;
}> {
  return [...declared.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, where]) => {
      const point = armed.get(name);
      // A point that can no longer fire (its `times` used up) is not armed.
      return {
        name,
        where,
        armed:
          point && point.remaining > 0
            ? {
                probability: point.probability,
                ...(Number.isFinite(point.remaining) ? { times: point.remaining } : {}),
              }
            : null,
        fired: firedCounts.get(name) ?? 0,
      };
    });
}

/** Arms points by name. Unknown names are rejected so a typo in a test cannot silently test nothing. */
export function armFailpoints(settings: Record<string, FailpointArming>): void {
  const unknown = Object.keys(settings).filter((name) => !declared.has(name));
  if (unknown.length > 0) {
    throw new UnknownFailpointError(unknown);
  }
  for (const [name, arming] of Object.entries(settings)) {
    // Probability 0 is "never fire": the point is disarmed, not listed as armed at 0.
    if (arming.probability <= 0) {
      armed.delete(name);
      continue;
    }
    armed.set(name, {
      probability: arming.probability,
      remaining: arming.times ?? Number.POSITIVE_INFINITY,
      fired: 0,
    });
  }
}

/** Disarms one point by name (its fired count stays); an unknown name is refused like arming. */
export function disarmFailpoint(name: string): void {
  if (!declared.has(name)) throw new UnknownFailpointError([name]);
  armed.delete(name);
}

/** How many times a point has fired since the last `clearFailpoints()`. */
export function firedCount(name: string): number {
  return firedCounts.get(name) ?? 0;
}

/** Arms one point to fire exactly once, at its next pass (the crash matrix's arming). */
export function armOnce(name: string): void {
  armFailpoints({ [name]: { probability: 1, times: 1 } });
}

export function clearFailpoints(): void {
  armed.clear();
  firedCounts.clear();
}

export class UnknownFailpointError extends Error {
  constructor(readonly names: string[]) {
    super(`unknown failpoint(s): ${names.join(', ')}`);
    this.name = 'UnknownFailpointError';
  }
}
