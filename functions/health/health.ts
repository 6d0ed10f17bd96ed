/** The health answer of api.md: 200 `ok` only when the store answers, else 503 `unavailable`. */
import type { StoreProbe } from './store-probe.js';

export interface HealthAnswer {
  readonly status: 200 | 503;
  readonly body: { readonly status: 'ok' | 'unavailable' };
}

export async function checkHealth(probe: StoreProbe): Promise<HealthAnswer> {
  return (await probe.reachable())
    ? { status: 200, body: { status: 'ok' } }
    : { status: 503, body: { status: 'unavailable' } };
}
