/** Provider timestamps (epoch seconds as number, string or protobuf Long) as ISO, when plausible. */

const MIN = Date.parse('2009-01-01T00:00:00Z');
const MAX_AHEAD_MS = 24 * 3600 * 1000;

export function providerTime(raw: unknown, nowMs: number): string {
  let seconds: number | undefined;
  if (typeof raw === 'number') seconds = raw;
  else if (typeof raw === 'string' && /^\d{1,13}$/.test(raw)) seconds = Number(raw);
  else if (
    raw &&
    typeof raw === 'object' &&
    'low' in raw &&
    typeof (raw as { low: unknown }).low === 'number'
  ) {
    const { low, high } = raw as { low: number; high?: number };
    seconds = (typeof high === 'number' ? high : 0) * 2 ** 32 + (low >>> 0);
  }
  if (seconds === undefined || !Number.isFinite(seconds)) return new Date(nowMs).toISOString();
  // Baileys sometimes sends milliseconds.
  const ms = seconds > 1e12 ? seconds : seconds * 1000;
  if (ms < MIN || ms > nowMs + MAX_AHEAD_MS) return new Date(nowMs).toISOString();
  return new Date(Math.floor(ms)).toISOString();
}
