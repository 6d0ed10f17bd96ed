/**
 * The race helper must be able to catch a race: a check-then-insert (the bug class it exists for)
 * must fail it, an atomic insert must pass it, and orders must differ between trials.
 */
import { describe, expect, it } from 'vitest';
import { raceTrials, seededRandom, shuffledOrder } from '../support/race.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('raceTrials', () => {
  it('catches a check-then-insert that lets two contenders in', async () => {
    await expect(
      raceTrials({
        trials: 5,
        setup: () => ({ rows: [] as string[] }),
        contenders: (state) =>
          ['a', 'b', 'c'].map((who) => async () => {
            const exists = state.rows.length > 0; // check...
            await tick(); // ...another contender runs here...
            if (!exists) state.rows.push(who); // ...then insert
          }),
        check: (state) => expect(state.rows).toHaveLength(1),
      }),
    ).rejects.toThrow(/5 of 5 race trials broke the invariant/);
  });

  it('passes an atomic insert and hands check every outcome in declaration order', async () => {
    const report = await raceTrials({
      trials: 8,
      maxStaggerMs: 3,
      setup: () => ({ rows: [] as string[] }),
      contenders: (state) =>
        ['a', 'b', 'c'].map((who) => async () => {
          await tick();
          if (state.rows.length > 0) return 'lost';
          state.rows.push(who);
          return 'won';
        }),
      check: (state, outcomes) => {
        expect(state.rows).toHaveLength(1);
        const won = outcomes.flatMap((o, i) =>
          o.status === 'fulfilled' && o.value === 'won' ? [['a', 'b', 'c'][i]] : [],
        );
        expect(won).toEqual(state.rows);
      },
    });
    expect(report.failures).toHaveLength(0);
  });

  it('fires contenders in orders that vary by seed and repeat for the same seed', () => {
    const orders = new Set(
      Array.from({ length: 20 }, (_, seed) => shuffledOrder(4, seededRandom(seed)).join()),
    );
    expect(orders.size).toBeGreaterThan(5);
    expect(shuffledOrder(6, seededRandom(42))).toEqual(shuffledOrder(6, seededRandom(42)));
  });
});
