/**
 * The health context's keys: it stores nothing; its probe reads one key no item uses, in the
 * `tenants` table that every request path reads first (`store-probe.ts`).
 */
export const keys = {
  probe: { pk: 'HEALTH#probe', sk: 'PROBE' },
} as const;
