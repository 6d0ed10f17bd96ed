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

/**
 * Where the points' state lives. By default in this module: one process, as in unit and
 * integration tests. The local runtime runs every function in a worker thread of its own and installs
 * one registry shared by all of them under {@link FAILPOINT_REGISTRY} before a handler module loads
 * (`lib/local/function-control.ts`), so `PUT /_local/failpoints` reaches whichever function passes
 * through a point and `times` counts across all of them. Nothing installs one on AWS.
 */
export interface FailpointRegistry {
  declare(name: string, where: string): void;
  /** Every point declared so far: name → where it sits. */
  declared(): ReadonlyMap<string, string>;
  /** Arms points whose names were checked against `declared()`; probability 0 disarms. */
  arm(settings: Readonly<Record<string, FailpointArming>>): void;
  /** Disarms one declared point (its fired count stays). */
  disarm(name: string): void;
  /** The arming in effect (with the `times` left, when limited), or null once it can no longer fire. */
  armed(name: string): FailpointArming | null;
  /** Whether this pass through `name` crashes; a crash is counted. */
  pass(name: string): boolean;
  /** How many times `name` fired since the last `clear()`. */
  fired(name: string): number;
  clear(): void;
}

/** The global a shared registry is installed under (`Symbol.for`, so every bundle finds it). */
export const FAILPOINT_REGISTRY = Symbol.for('onceflow.failpoint-registry');

interface ArmedPoint {
  probability: number;
  remaining: number;
}

function moduleRegistry(): FailpointRegistry {
  const declared = new Map<string, string>();
  const armed = new Map<string, ArmedPoint>();
  const firedCounts = new Map<string, number>();
  return {
    declare: (name, where) => void declared.set(name, where),
    declared: () => declared,
    arm(settings) {
      for (const [name, arming] of Object.entries(settings)) {
        // Probability 0 is "never fire": the point is disarmed, not listed as armed at 0.
        if (arming.probability <= 0) {
          armed.delete(name);
          continue;
        }
        armed.set(name, {
          probability: arming.probability,
          remaining: arming.times ?? Number.POSITIVE_INFINITY,
        });
      }
    },
    disarm: (name) => void armed.delete(name),
    armed(name) {
      const point = armed.get(name);
      // A point that can no longer fire (its `times` used up) is not armed.
      if (!point || point.remaining <= 0) return null;
      return {
        probability: point.probability,
        ...(Number.isFinite(point.remaining) ? { times: point.remaining } : {}),
      };
    },
    pass(name) {
      const point = armed.get(name);
      if (!point || point.remaining <= 0) return false;
      if (Math.random() >= point.probability) return false;
      point.remaining -= 1;
      firedCounts.set(name, (firedCounts.get(name) ?? 0) + 1);
      return true;
    },
    fired: (name) => firedCounts.get(name) ?? 0,
    clear() {
      armed.clear();
      firedCounts.clear();
    },
  };
}

const ownRegistry = moduleRegistry();

function registry(): FailpointRegistry {
  return (
    ((globalThis as Record<symbol, unknown>)[FAILPOINT_REGISTRY] as
      | FailpointRegistry
      | undefined) ?? ownRegistry
  );
}

function enabled(): boolean {
  return process.env.ONCEFLOW_FAILPOINTS === 'on';
}

/** Declares a failpoint name (with a sentence on where it sits) and returns the name. */
export function defineFailpoint(name: string, where: string): string {
  registry().declare(name, where);
  return name;
}

/** Crashes here when this point is armed. */
export function failpoint(name: string): void {
  if (!enabled()) return;
  if (registry().pass(name)) throw new FailpointCrashError(name);
}

export function listFailpoints(): Array<{
  name: string;
  where: string;
  armed: FailpointArming | null;
  fired: number;
}> {
  const points = registry();
  return [...points.declared().entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, where]) => ({
      name,
      where,
      armed: points.armed(name),
      fired: points.fired(name),
    }));
}

/** Arms points by name. Unknown names are rejected so a typo in a test cannot silently test nothing. */
export function armFailpoints(settings: Record<string, FailpointArming>): void {
  const points = registry();
  const declared = points.declared();
  const unknown = Object.keys(settings).filter((name) => !declared.has(name));
  if (unknown.length > 0) {
    throw new UnknownFailpointError(unknown);
  }
  points.arm(settings);
}

/** Disarms one point by name (its fired count stays); an unknown name is refused like arming. */
export function disarmFailpoint(name: string): void {
  const points = registry();
  if (!points.declared().has(name)) throw new UnknownFailpointError([name]);
  points.disarm(name);
}

/** How many times a point has fired since the last `clearFailpoints()`. */
export function firedCount(name: string): number {
  return registry().fired(name);
}

/** Arms one point to fire exactly once, at its next pass (the crash matrix's arming). */
export function armOnce(name: string): void {
  armFailpoints({ [name]: { probability: 1, times: 1 } });
}

export function clearFailpoints(): void {
  registry().clear();
}

export class UnknownFailpointError extends Error {
  constructor(readonly names: string[]) {
    super(`unknown failpoint(s): ${names.join(', ')}`);
    this.name = 'UnknownFailpointError';
  }
}
