/**
 * Runs the model checker (spin, with gcc to build each verifier; `scripts/install-prerequisites.sh`
 * installs both) on the checks marked for the test suite: the models verify with no violation, and
 * each model with one guard removed yields a counterexample. `npm run model` runs the full list,
 * including the larger state spaces. Without spin or gcc the suite is one failure saying so, not
 * one cryptic `spawnSync spin ENOENT` per check.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CHECKS, runCheck } from '../../models/checks.js';

/** The tools a check needs that this machine lacks. */
const missingTools = [
  ['spin', '-V'],
  ['gcc', '--version'],
].filter(([tool, flag]) => spawnSync(tool as string, [flag as string]).error !== undefined);

describe('model checks', () => {
  it('has spin and gcc to run them', () => {
    expect(
      missingTools.map(([tool]) => tool),
      `missing ${missingTools.map(([tool]) => tool).join(' and ')}: run bash scripts/install-prerequisites.sh (README, Prerequisites)`,
    ).toEqual([]);
  });

  // Without the tools there is nothing to run: the one failure above says why.
  if (missingTools.length === 0) {
    it.for(CHECKS.filter((check) => check.inTestSuite))(
      '$name: $expect ($says)',
      { timeout: 300_000 },
      (check) => {
        const result = runCheck(check);
        expect(Number.isFinite(result.statesStored)).toBe(true);
        if (check.expect === 'pass') {
          expect(result.violation).toBeNull();
          expect(result.errors).toBe(0);
        } else {
          expect(result.errors).toBeGreaterThan(0);
        }
        expect(result.ok).toBe(true);
      },
    );
  }
});
