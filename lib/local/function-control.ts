/**
 * The local runtime's control over its function workers: the clock seam and the failpoints, shared
 * by the runtime (its `/_local/clock` and `/_local/failpoints` routes) and every worker thread.
 *
 * Each function runs in a worker thread of its own, with its own copy of the kernel's modules (in a
 * bundle the kernel is inlined and unreachable from outside). So the kernel looks for a shared
 * clock offset and failpoint registry on `globalThis` (`CLOCK_OFFSET`, `FAILPOINT_REGISTRY` in
 * `functions/kernel/clock.ts` and `failpoints.ts`), and the runtime installs them here — in its
 * own thread, and in each worker before the function's module loads.
 *
 * - The clock offset lives in a SharedArrayBuffer: every `clock.now()` of every worker reads it
 *   synchronously, so a jump is seen by the very next read anywhere, with no message to wait for.
 * - Which points are armed, and at what probability, is sent to every worker as a message (the
 *   whole table each time). Messages to a worker are delivered in order, so an arming sent before an
 *   invocation is in effect when that invocation runs. The counters (`times` left, times fired) are
 *   in a SharedArrayBuffer and moved with `Atomics`, so `times: 1` fires once across all workers
 *   even when two functions pass through the same kernel point at once.
 * - Workers report the points their modules declare; the runtime lists their union.
 *
 * Nothing here exists on AWS: the globals are never installed there, and `failpoint()` is inert
 * unless `ONCEFLOW_FAILPOINTS=on`, which only the local runtime sets.
 */
import { CLOCK_OFFSET, type ClockOffset } from '../../functions/kernel/clock.js';
import {
  FAILPOINT_REGISTRY,
  type FailpointArming,
  type FailpointRegistry,
} from '../../functions/kernel/failpoints.js';

/** How many distinct points can be armed in one run (two Int32 counters each). */
const FAILPOINT_SLOTS = 4096;

export interface ControlBuffers {
  /** One Int64: the clock offset in whole milliseconds. */
  readonly clock: SharedArrayBuffer;
  /** Per slot: [times left, times fired]. */
  readonly failpoints: SharedArrayBuffer;
}

/** An armed point as workers see it: its probability and its counters' slot. */
export interface ArmedEntry {
  readonly probability: number;
  readonly slot: number;
  /** False: fires at every pass that rolls under the probability, with no `times` budget. */
  readonly limited: boolean;
}

export type ArmedTable = Readonly<Record<string, ArmedEntry>>;

/** What a worker sends the runtime about failpoints. */
export interface DeclareMessage {
  readonly type: 'declare';
  readonly points: ReadonlyArray<readonly [name: string, where: string]>;
}

/** What the runtime sends every worker when the armed table changes. */
export interface ArmMessage {
  readonly type: 'arm';
  readonly armed: ArmedTable;
}

export function createControlBuffers(): ControlBuffers {
  return {
    clock: new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT),
    failpoints: new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * 2 * FAILPOINT_SLOTS),
  };
}

/** The shared clock offset over `buffers.clock`. */
export function sharedClockOffset(buffers: ControlBuffers): ClockOffset {
  const cell = new BigInt64Array(buffers.clock);
  return {
    get: () => Number(Atomics.load(cell, 0)),
    advance(ms) {
      const step = BigInt(Math.round(ms));
      return Number(Atomics.add(cell, 0, step) + step);
    },
  };
}

/** Decides a pass through an armed point against the shared counters. */
function passArmed(counters: Int32Array, entry: ArmedEntry | undefined): boolean {
  if (!entry || Math.random() >= entry.probability) return false;
  const left = 2 * entry.slot;
  if (entry.limited && Atomics.sub(counters, left, 1) <= 0) {
    Atomics.add(counters, left, 1);
    return false;
  }
  Atomics.add(counters, left + 1, 1);
  return true;
}

function armingOf(counters: Int32Array, entry: ArmedEntry | undefined): FailpointArming | null {
  if (!entry) return null;
  const left = Atomics.load(counters, 2 * entry.slot);
  // A point that can no longer fire (its `times` used up) is not armed.
  if (entry.limited && left <= 0) return null;
  return { probability: entry.probability, ...(entry.limited ? { times: left } : {}) };
}

/**
 * The runtime's side: the registry behind `/_local/failpoints` (points declared by the workers,
 * armings sent to them through `broadcast`) and the clock offset behind `/_local/clock`.
 */
export class RuntimeControl {
  readonly buffers = createControlBuffers();
  private readonly counters = new Int32Array(this.buffers.failpoints);
  private readonly declaredPoints = new Map<string, string>();
  private readonly slots = new Map<string, number>();
  private armed: Record<string, ArmedEntry> = {};
  private readonly previous = new Map<symbol, unknown>();

  constructor(private readonly broadcast: (message: ArmMessage) => void) {}

  /** The table a worker starting now must begin with. */
  armedTable(): ArmedTable {
    return this.armed;
  }

  /** Records what a worker declared. */
  declared(message: DeclareMessage): void {
    for (const [name, where] of message.points) this.declaredPoints.set(name, where);
  }

  readonly registry: FailpointRegistry = {
    declare: (name, where) => void this.declaredPoints.set(name, where),
    declared: () => this.declaredPoints,
    arm: (settings) => {
      const armed = { ...this.armed };
      for (const [name, arming] of Object.entries(settings)) {
        // Probability 0 is "never fire": the point is disarmed, not listed as armed at 0.
        if (arming.probability <= 0) {
          delete armed[name];
          continue;
        }
        const slot = this.slotOf(name);
        Atomics.store(this.counters, 2 * slot, arming.times ?? 0);
        armed[name] = {
          probability: arming.probability,
          slot,
          limited: arming.times !== undefined,
        };
      }
      this.armed = armed;
      this.broadcast({ type: 'arm', armed });
    },
    disarm: (name) => {
      const { [name]: _gone, ...armed } = this.armed;
      this.armed = armed;
      this.broadcast({ type: 'arm', armed });
    },
    armed: (name) => armingOf(this.counters, this.armed[name]),
    pass: (name) => passArmed(this.counters, this.armed[name]),
    fired: (name) => {
      const slot = this.slots.get(name);
      return slot === undefined ? 0 : Atomics.load(this.counters, 2 * slot + 1);
    },
    clear: () => {
      this.armed = {};
      this.broadcast({ type: 'arm', armed: {} });
      this.counters.fill(0);
    },
  };

  /** Makes this thread's kernel (the `/_local` routes) use the shared clock and registry. */
  install(): void {
    const global = globalThis as Record<symbol, unknown>;
    for (const [symbol, value] of [
      [CLOCK_OFFSET, sharedClockOffset(this.buffers)],
      [FAILPOINT_REGISTRY, this.registry],
    ] as const) {
      this.previous.set(symbol, global[symbol]);
      global[symbol] = value;
    }
  }

  /** Puts back what `install` replaced (in-process tests start runtimes one after another). */
  uninstall(): void {
    const global = globalThis as Record<symbol, unknown>;
    for (const [symbol, value] of this.previous) {
      if (value === undefined) delete global[symbol];
      else global[symbol] = value;
    }
    this.previous.clear();
  }

  private slotOf(name: string): number {
    let slot = this.slots.get(name);
    if (slot === undefined) {
      slot = this.slots.size;
      if (slot >= FAILPOINT_SLOTS) throw new Error(`more than ${FAILPOINT_SLOTS} failpoints armed`);
      this.slots.set(name, slot);
    }
    return slot;
  }
}

/**
 * A worker's registry: declarations go to the runtime through `post`; armings arrive through
 * `update`; passes count against the shared counters.
 */
export function workerRegistry(
  buffers: ControlBuffers,
  armed: ArmedTable,
  post: (message: DeclareMessage) => void,
): { registry: FailpointRegistry; update(message: ArmMessage): void } {
  const counters = new Int32Array(buffers.failpoints);
  const declared = new Map<string, string>();
  let table = armed;
  const registry: FailpointRegistry = {
    declare(name, where) {
      declared.set(name, where);
      post({ type: 'declare', points: [[name, where]] });
    },
    declared: () => declared,
    arm() {
      throw new Error('failpoints are armed through the runtime (PUT /_local/failpoints)');
    },
    disarm() {
      throw new Error(
        'failpoints are disarmed through the runtime (DELETE /_local/failpoints/{name})',
      );
    },
    armed: (name) => armingOf(counters, table[name]),
    pass: (name) => passArmed(counters, table[name]),
    fired: (name) => {
      const entry = table[name];
      return entry ? Atomics.load(counters, 2 * entry.slot + 1) : 0;
    },
    clear() {
      throw new Error('failpoints are cleared through the runtime (DELETE /_local/failpoints)');
    },
  };
  return {
    registry,
    update(message) {
      table = message.armed;
    },
  };
}

/**
 * Installs a worker's side before the function's module loads: the shared clock offset and the
 * worker's registry on `globalThis`, where the kernel looks for them.
 */
export function installWorkerControl(
  buffers: ControlBuffers,
  armed: ArmedTable,
  post: (message: DeclareMessage) => void,
): { update(message: ArmMessage): void } {
  const worker = workerRegistry(buffers, armed, post);
  const global = globalThis as Record<symbol, unknown>;
  global[CLOCK_OFFSET] = sharedClockOffset(buffers);
  global[FAILPOINT_REGISTRY] = worker.registry;
  return worker;
}
