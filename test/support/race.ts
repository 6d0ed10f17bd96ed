/**
 * Race trials: the concurrency half of "every exactly-once claim is raced and crashed".
 *
 * `raceTrials` runs N independent trials. In each, `setup` prepares fresh state (a new tenant,
 * session, user...), `contenders` lists the requests to fire, and they are started together, in an
 * order that changes from trial to trial (a seeded shuffle, so a failing trial can be replayed by
 * its seed), each optionally after a small random stagger so that both "exactly together" and
 * "one slightly ahead" are tried. After every request of the trial has settled, `check` asserts the
 * invariant on what the store holds. Every failed trial is collected and reported together with the
 * order that produced it, so a flaky race shows its interleaving.
 */

export interface RaceTrial<S> {
  /** 0-based trial number. */
  readonly trial: number;
  /** The seed that produced this trial's order and staggers. */
  readonly seed: number;
  /** State built by `setup` for this trial. */
  readonly state: S;
}

export type Settled = PromiseSettledResult<unknown>;

export interface RaceOptions<S> {
  /** How many independent trials. */
  readonly trials: number;
  /** Builds the trial's fresh state. */
  readonly setup: (trial: number) => Promise<S> | S;
  /** The requests to fire at once; each is called exactly once per trial. */
  readonly contenders: (state: S) => ReadonlyArray<() => Promise<unknown>>;
  /**
   * Asserts the invariant after every contender settled. It receives each contender's outcome in
   * declaration order (not firing order). Throw (e.g. with `expect`) to fail the trial.
   */
  readonly check: (
    state: S,
    outcomes: readonly Settled[],
    trial: RaceTrial<S>,
  ) => Promise<void> | void;
  /** Upper bound of a random delay before each contender starts, in ms. @default 0 (all at once) */
  readonly maxStaggerMs?: number;
  /** Trials run this many at a time. @default 1 */
  readonly parallelTrials?: number;
  /** First seed; trial i uses seed + i. @default 1 */
  readonly seed?: number;
}

export interface RaceReport {
  readonly trials: number;
  readonly failures: ReadonlyArray<{
    trial: number;
    seed: number;
    order: number[];
    error: unknown;
  }>;
}

/** mulberry32: a small deterministic PRNG, so an order can be reproduced from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A permutation of 0..n-1 (Fisher–Yates) drawn from `random`. */
export function shuffledOrder(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

async function runTrial<S>(options: RaceOptions<S>, trial: number, seed: number) {
  const state = await options.setup(trial);
  const contenders = options.contenders(state);
  const random = seededRandom(seed);
  const order = shuffledOrder(contenders.length, random);
  const maxStagger = options.maxStaggerMs ?? 0;
  const delays = order.map(() => (maxStagger > 0 ? Math.floor(random() * maxStagger) : 0));
  const outcomes: Settled[] = new Array(contenders.length);
  // Start in the shuffled order; all promises exist before any is awaited.
  const running = order.map(async (index, position) => {
    const delay = delays[position] ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const contender = contenders[index] as () => Promise<unknown>;
    try {
      outcomes[index] = { status: 'fulfilled', value: await contender() };
    } catch (reason) {
      outcomes[index] = { status: 'rejected', reason };
    }
  });
  await Promise.all(running);
  try {
    await options.check(state, outcomes, { trial, seed, state });
    return undefined;
  } catch (error) {
    return { trial, seed, order, error };
  }
}

/**
 * Runs the trials and throws one error listing every failed trial (seed, firing order, message),
 * or returns the report when all held.
 */
export async function raceTrials<S>(options: RaceOptions<S>): Promise<RaceReport> {
  const firstSeed = options.seed ?? 1;
  const parallel = Math.max(1, options.parallelTrials ?? 1);
  const failures: Array<{ trial: number; seed: number; order: number[]; error: unknown }> = [];
  for (let start = 0; start < options.trials; start += parallel) {
    const batch = Array.from(
      { length: Math.min(parallel, options.trials - start) },
      (_, i) => start + i,
    );
    const results = await Promise.all(
      batch.map((trial) => runTrial(options, trial, firstSeed + trial)),
    );
    for (const failure of results) if (failure) failures.push(failure);
  }
  if (failures.length > 0) {
    const lines = failures
      .slice(0, 5)
      .map(
        (f) =>
          `trial ${f.trial} (seed ${f.seed}, order ${f.order.join(',')}): ${
            f.error instanceof Error ? f.error.message : String(f.error)
          }`,
      );
    throw new Error(
      `${failures.length} of ${options.trials} race trials broke the invariant:\n${lines.join('\n')}`,
    );
  }
  return { trials: options.trials, failures };
}
