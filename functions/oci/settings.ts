/**
 * The OCI context's own settings (the kernel keeps the windows several contexts share, e.g.
 * `settings.leaseSeconds`). Read by `deps.ts` and the start-up checks, never below a handler.
 */
import { seconds } from '../kernel/config.js';

export const ociSettings = {
  /** When a row claimed by the Google Ads script's export returns to `retry`. */
  get staleSeconds(): number {
    return seconds('ONCEFLOW_OCI_STALE_SECONDS', 900);
  },
};
