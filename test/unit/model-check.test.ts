/**
 * Runs the model checker (spin, installed by .ci/run) on the checks marked for the test suite:
 * the models verify with no violation, and each model with one guard removed yields a
 * counterexample. `npm run model` runs the full list, including the larger state spaces.
 */
import { describe, expect, it } from 'vitest';
import { CHECKS, runCheck } from '../../models/checks.js';

describe('model checks', () => {
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
});
