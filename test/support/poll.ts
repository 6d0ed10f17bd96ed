/**
 * Tests wait by polling, never by sleeping: `pollUntil` calls `fn` until it returns a truthy value
 * (which it resolves with) or the time is up (then it throws, with the last value or error seen).
 */
export interface PollOptions {
  /** @default 10_000 */
  readonly timeoutMs?: number;
  /** @default 100 */
  readonly intervalMs?: number;
  /** Says what was awaited, for the timeout message. */
  readonly description?: string;
}

/** What a truthy result can be: `fn` may return `false`, `0`, `''`, `null` or `undefined` to mean "not yet". */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export class PollTimeoutError extends Error {
  override name = 'PollTimeoutError';
}

export async function pollUntil<T>(
  fn: () => T | Promise<T>,
  options: PollOptions = {},
): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: { value?: unknown; error?: unknown } = {};
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as Truthy<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      const seen =
        'error' in last
          ? `last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`
          : `last value: ${JSON.stringify(last.value)}`;
      throw new PollTimeoutError(
        `timed out after ${timeoutMs} ms waiting for ${options.description ?? 'a condition'} (${seen})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
