/**
 * PLACEHOLDER until the delivery half lands (helper `events-delivery` builds the real
 * `createEndpointDispatcher(deps): EventSink` here: endpoints, signing, retries, SSRF guard). Its
 * version replaces this file whole; `deps.ts` then passes it its deps.
 *
 * Until then every event is taken and logged by id and type only (never its data), so the change
 * feed runs end to end in the local runtime.
 */
import { logger } from '../kernel/telemetry.js';
import type { EventSink } from './model.js';

export function createEndpointDispatcher(): EventSink {
  return {
    async accept(events) {
      for (const event of events) {
        logger.info('event taken (no delivery yet)', { eventId: event.eventId, type: event.type });
      }
      return { failed: [] };
    },
  };
}
