/**
 * The events context's settings, read by its composition root (`deps.ts`) and handed to the domain
 * as arguments. `ONCEFLOW_EVENTS_LOOPBACK_HTTP` is `on` only in the local runtime (the manifest's
 * local value): there an endpoint may be plain http on a loopback address (the receiver simulator);
 * deployed, every endpoint is https to a public address.
 */
import { seconds } from '../kernel/config.js';

export const eventSettings = {
  get allowLoopbackHttp(): boolean {
    return process.env.ONCEFLOW_EVENTS_LOOPBACK_HTTP === 'on';
  },
  /** How long one POST to a receiver may take (Svix: 15 s; a Lambda record must hold it). */
  get deliveryTimeoutMs(): number {
    return seconds('ONCEFLOW_EVENTS_TIMEOUT_SECONDS', 10) * 1000;
  },
};
