/**
 * EventBridge Scheduler, locally: each schedule function runs every `everySeconds / speed` seconds
 * with the payload the stack's schedule sends (`{"schedule": "<functionName>"}`). A run never
 * overlaps the previous one of the same schedule (the next one is timed from the end of the
 * last); errors are logged and the schedule keeps going.
 */
import { describeError, type HandlerLoader, invokeHandler, type LocalFunction } from './lambda.js';

export interface ScheduledFunction {
  readonly fn: LocalFunction;
  readonly everySeconds: number;
}

export interface SchedulerOptions {
  readonly schedules: readonly ScheduledFunction[];
  readonly loader: Pick<HandlerLoader, 'load'>;
  /** Fire N times as often. @default 1 */
  readonly speed?: number;
  readonly log: (line: string) => void;
}

export interface Scheduler {
  /** Cancels pending runs and waits for runs in progress. */
  stop(): Promise<void>;
}

/** The Scheduler target input for a schedule function. */
export function scheduleEvent(functionName: string): { schedule: string } {
  return { schedule: functionName };
}

export function startScheduler(options: SchedulerOptions): Scheduler {
  const speed = options.speed && options.speed > 0 ? options.speed : 1;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();

  for (const schedule of options.schedules) {
    const intervalMs = Math.max(10, (schedule.everySeconds * 1000) / speed);
    const arm = () => {
      if (stopped) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        const run = fire(schedule).finally(() => {
          running.delete(run);
          arm();
        });
        running.add(run);
      }, intervalMs);
      timers.add(timer);
    };
    arm();
  }

  async function fire(schedule: ScheduledFunction): Promise<void> {
    try {
      const handler = await options.loader.load(schedule.fn);
      await invokeHandler(handler, scheduleEvent(schedule.fn.name), schedule.fn);
    } catch (error) {
      options.log(`[schedule] ${schedule.fn.name} failed: ${describeError(error)}`);
    }
  }

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(running);
    },
  };
}
