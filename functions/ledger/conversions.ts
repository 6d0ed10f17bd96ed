/** `GET /v1/conversions`: a tenant's conversions, filtered by user, type and source, with a cursor. */
import type { ConversionFilter, LedgerStore } from './ledger-store.js';
import type { ConversionItem } from './model.js';

export interface ConversionView {
  readonly conversionId: string;
  readonly userId: string;
  readonly type: string;
  readonly queueType: string;
  readonly stayId: string;
  readonly source: string;
  readonly occurredAt: string;
  readonly loggedAt: string;
}

const view = (c: ConversionItem): ConversionView => ({
  conversionId: c.conversionId,
  userId: c.userId,
  type: c.type,
  queueType: c.queueType,
  stayId: c.stayId,
  source: c.source,
  occurredAt: c.occurredAt,
  loggedAt: c.loggedAt,
});

export async function listConversions(
  store: LedgerStore,
  tenantId: string,
  query: ConversionFilter & {
    userId?: string | undefined;
    cursor?: string | undefined;
    limit: number;
  },
): Promise<{ conversions: ConversionView[]; nextCursor: string | null }> {
  const filter: ConversionFilter = { type: query.type, source: query.source };
  const page =
    query.userId !== undefined
      ? await store.conversionsOfUser(tenantId, query.userId, filter, query.cursor, query.limit)
      : await store.conversionsOfTenant(tenantId, filter, query.cursor, query.limit);
  return { conversions: page.items.map(view), nextCursor: page.nextCursor };
}
