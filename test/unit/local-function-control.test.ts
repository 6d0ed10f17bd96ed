/**
 * The local runtime's failpoints and clock reach every function worker: what the runtime arms is in
 * effect in each worker, `times` is counted once across all of them, a clear resets every count,
 * and a clock jump is seen everywhere. The workers here are the registries each worker installs,
 * over the same shared buffers and the runtime's messages, in one thread.
 */
import { describe, expect, it } from 'vitest';
import {
  type ArmMessage,
  type DeclareMessage,
  RuntimeControl,
  sharedClockOffset,
  workerRegistry,
} from '../../lib/local/function-control.js';

function runtimeWithWorkers(count: number) {
  const workers: Array<ReturnType<typeof workerRegistry>> = [];
  const control = new RuntimeControl((message: ArmMessage) => {
    for (const worker of workers) worker.update(message);
  });
  for (let i = 0; i < count; i++) {
    workers.push(
      workerRegistry(control.buffers, control.armedTable(), (message: DeclareMessage) =>
        control.declared(message),
      ),
    );
  }
  return { control, workers };
}

describe('failpoints across function workers', () => {
  it('lists what every worker declared', () => {
    // Prepare
    const { control, workers } = runtimeWithWorkers(2);

    // Act
    workers[0]?.registry.declare('a.after-write', 'after a write');
    workers[1]?.registry.declare('b.after-send', 'after a send');

    // Assess
    expect([...control.registry.declared().keys()].sort()).toEqual([
      'a.after-write',
      'b.after-send',
    ]);
  });

  it('fires `times: 1` once in all, whichever worker passes first', () => {
    // Prepare: two functions pass through the same kernel point.
    const { control, workers } = runtimeWithWorkers(2);
    const [first, second] = workers;
    first?.registry.declare('kernel.after-put', 'after a put');
    control.registry.arm({ 'kernel.after-put': { probability: 1, times: 1 } });

    // Act
    const passes = [
      second?.registry.pass('kernel.after-put'),
      first?.registry.pass('kernel.after-put'),
      second?.registry.pass('kernel.after-put'),
    ];

    // Assess
    expect(passes).toEqual([true, false, false]);
    expect(control.registry.fired('kernel.after-put')).toBe(1);
    // A point whose `times` are spent can no longer fire: it is listed as not armed.
    expect(control.registry.armed('kernel.after-put')).toBeNull();
  });

  it('fires at every pass when armed without `times`, never at probability 0', () => {
    const { control, workers } = runtimeWithWorkers(1);
    const worker = workers[0];
    control.registry.arm({ always: { probability: 1 }, never: { probability: 0 } });
    const always = Array.from({ length: 5 }, () => worker?.registry.pass('always'));
    const never = Array.from({ length: 5 }, () => worker?.registry.pass('never'));
    expect(always.every(Boolean)).toBe(true);
    expect(never.some(Boolean)).toBe(false);
    expect(control.registry.fired('always')).toBe(5);
    // Probability 0 disarms: the point is not listed as armed at 0.
    expect(control.registry.armed('never')).toBeNull();
  });

  it('a point disarmed by the runtime stops firing in every worker; its count stays', () => {
    const { control, workers } = runtimeWithWorkers(2);
    control.registry.arm({ point: { probability: 1 } });
    expect(workers.map((w) => w.registry.pass('point'))).toEqual([true, true]);
    control.registry.disarm('point');
    expect(workers.map((w) => w.registry.pass('point'))).toEqual([false, false]);
    expect(control.registry.armed('point')).toBeNull();
    expect(control.registry.fired('point')).toBe(2);
  });

  it('a worker started after the arming begins with it', () => {
    const { control } = runtimeWithWorkers(0);
    control.registry.arm({ late: { probability: 1, times: 2 } });
    const late = workerRegistry(control.buffers, control.armedTable(), () => {});
    expect([
      late.registry.pass('late'),
      late.registry.pass('late'),
      late.registry.pass('late'),
    ]).toEqual([true, true, false]);
  });

  it('a clear disarms every worker and resets the counts', () => {
    const { control, workers } = runtimeWithWorkers(2);
    control.registry.arm({ p: { probability: 1 } });
    workers[0]?.registry.pass('p');

    control.registry.clear();

    expect(workers.map((w) => w.registry.pass('p'))).toEqual([false, false]);
    expect(control.registry.fired('p')).toBe(0);
    expect(control.registry.armed('p')).toBeNull();
  });
});

describe('the clock across function workers', () => {
  it('a jump made by the runtime is read by every worker', () => {
    const { control } = runtimeWithWorkers(0);
    const runtimeClock = sharedClockOffset(control.buffers);
    const workerClock = sharedClockOffset(control.buffers);

    runtimeClock.advance(660_000);
    runtimeClock.advance(1.4);

    expect(workerClock.get()).toBe(660_001);
  });
});
