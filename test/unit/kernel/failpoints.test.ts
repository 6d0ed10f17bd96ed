import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  armFailpoints,
  clearFailpoints,
  defineFailpoint,
  disarmFailpoint,
  FailpointCrashError,
  failpoint,
  listFailpoints,
  UnknownFailpointError,
} from '../../../functions/kernel/failpoints.js';

const point = defineFailpoint('test.unit.between-writes', 'between two writes of a unit test');

describe('failpoints', () => {
  const previous = process.env.ONCEFLOW_FAILPOINTS;
  beforeEach(() => {
    process.env.ONCEFLOW_FAILPOINTS = 'on';
  });
  afterEach(() => {
    clearFailpoints();
    process.env.ONCEFLOW_FAILPOINTS = previous;
  });

  it('does nothing until armed', () => {
    expect(() => failpoint(point)).not.toThrow();
  });

  it('crashes when armed at probability 1, and only `times` times', () => {
    // Prepare
    armFailpoints({ [point]: { probability: 1, times: 2 } });
    // Act / Assess
    expect(() => failpoint(point)).toThrow(FailpointCrashError);
    expect(() => failpoint(point)).toThrow(FailpointCrashError);
    expect(() => failpoint(point)).not.toThrow();
    expect(listFailpoints().find((p) => p.name === point)?.fired).toBe(2);
  });

  it('is inert when failpoints are off, as in the deployed bundle', () => {
    armFailpoints({ [point]: { probability: 1 } });
    process.env.ONCEFLOW_FAILPOINTS = undefined;
    delete process.env.ONCEFLOW_FAILPOINTS;
    expect(() => failpoint(point)).not.toThrow();
  });

  it('refuses to arm a name nobody declared, so a typo cannot test nothing', () => {
    expect(() => armFailpoints({ 'test.unit.typo': { probability: 1 } })).toThrow(
      UnknownFailpointError,
    );
  });

  it('lists declared points with where they sit', () => {
    expect(listFailpoints()).toContainEqual(
      expect.objectContaining({
        name: point,
        where: 'between two writes of a unit test',
        armed: null,
      }),
    );
  });

  it('fires at roughly the armed probability', () => {
    armFailpoints({ [point]: { probability: 0.3 } });
    let fired = 0;
    for (let i = 0; i < 2000; i++) {
      try {
        failpoint(point);
      } catch {
        fired++;
      }
    }
    expect(fired).toBeGreaterThan(450);
    expect(fired).toBeLessThan(750);
  });

  it('a point disarmed by name, at probability 0 or with its times used up is not listed armed', () => {
    const armedOf = () => listFailpoints().find((p) => p.name === point)?.armed;
    armFailpoints({ [point]: { probability: 1 } });
    disarmFailpoint(point);
    expect(armedOf()).toBeNull();
    expect(() => failpoint(point)).not.toThrow();
    armFailpoints({ [point]: { probability: 1 } });
    armFailpoints({ [point]: { probability: 0 } });
    expect(armedOf()).toBeNull();
    armFailpoints({ [point]: { probability: 1, times: 1 } });
    expect(() => failpoint(point)).toThrow(FailpointCrashError);
    expect(armedOf()).toBeNull();
    expect(() => disarmFailpoint('test.unit.typo')).toThrow(UnknownFailpointError);
  });
});
