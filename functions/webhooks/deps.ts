/** The webhooks context's composition root: the inbound stores and the GHL dedupe window, read once. */
import { inboundDeps } from '../conversations/index.js';
import { ConfigurationError } from '../kernel/config.js';

/** Longer than GoHighLevel's retry horizon (six retries ~10 minutes apart, ~70 minutes). */
export const DEFAULT_GHL_DEDUPE_WINDOW_SECONDS = 7200;

export function ghlDedupeWindowSeconds(env = process.env): number {
  const raw = env.ONCEFLOW_GHL_DEDUPE_WINDOW_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_GHL_DEDUPE_WINDOW_SECONDS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigurationError(
      `ONCEFLOW_GHL_DEDUPE_WINDOW_SECONDS must be a positive whole number of seconds, got ${raw}`,
    );
  }
  return value;
}

export { inboundDeps };
