/**
 * The local EventBridge Scheduler: each schedule fires with `{"schedule": "<functionName>"}`,
 * `--schedule-speed` divides the interval, a run never overlaps the previous one, and a failing
 * run does not stop the schedule.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LambdaHandler } from '../../../lib/local/lambda.js';
import { type Scheduler, startScheduler } from '../../../lib/local/scheduler.js';
import { pollUntil } from '../../support/poll.js';

const schedulers: Scheduler[] = [];

afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.stop()));
});

describe('local scheduler', () => {
  it('fires with the Scheduler payload, never overlapping, and survives failures', async () => {
    // Prepare: every 2 s at 20x speed = every 100 ms; each run takes 150 ms, every other throws.
    const events: unknown[] = [];
    const lines: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const handler: LambdaHandler = async (event) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      events.push(event);
      await new Promise((resolve) => setTimeout(resolve, 150));
      running -= 1;
      if (events.length % 2 === 1) throw new Error('sweep failed');
    };

    // Act
    schedulers.push(
      startScheduler({
        schedules: [{ fn: { name: 'recoverStaleSends', entry: '(inline)' }, everySeconds: 2 }],
        loader: { load: async () => handler },
        speed: 20,
        log: (line) => lines.push(line),
      }),
    );
    await pollUntil(() => events.length >= 4, { description: 'four runs' });

    // Assess
    expect(events[0]).toEqual({ schedule: 'recoverStaleSends' });
    expect(maxRunning).toBe(1);
    expect(lines.some((line) => line.includes('recoverStaleSends failed'))).toBe(true);
  });
});
