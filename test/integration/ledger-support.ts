/**
 * Drives the ledger's real handlers with HTTP API v2 events, and reads what the store holds, for
 * the ledger integration tests, the crash matrix and the bench.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { ddb } from '../../functions/kernel/clients.js';
import { systemClock } from '../../functions/kernel/clock.js';
import { tableName } from '../../functions/kernel/config.js';
import { handler as listConversionsHandler } from '../../functions/ledger/handlers/list-conversions.js';
import { handler as listMembersHandler } from '../../functions/ledger/handlers/list-members.js';
import { handler as missingHandler } from '../../functions/ledger/handlers/list-missing-conversions.js';
import { handler as putMemberHandler } from '../../functions/ledger/handlers/put-member.js';
import { handler as recordEventHandler } from '../../functions/ledger/handlers/record-event.js';
import { handler as removeMemberHandler } from '../../functions/ledger/handlers/remove-member.js';
import { handler as validateHandler } from '../../functions/ledger/handlers/validate-queue.js';
import {
  type ConversionItem,
  DynamoDbLedgerStore,
  type LedgerDeps,
  ledgerDeps,
} from '../../functions/ledger/index.js';
import { tenantConfigSchema } from '../../functions/tenants/tenant-store.js';
import { testTenantStore } from '../support/tenant-store.js';
import { type HttpResult, invoke } from './inbound-support.js';

export interface LedgerTenant {
  readonly tenantId: string;
  readonly apiKey: string;
}

export async function createLedgerTenant(
  workQueues?: Record<string, string>,
): Promise<LedgerTenant> {
  const tenantId = `lt-${randomUUID().slice(0, 8)}`;
  await testTenantStore(systemClock).putConfig(
    tenantId,
    tenantConfigSchema.parse({
      name: `Ledger ${tenantId}`,
      defaultCountry: 'IL',
      ...(workQueues ? { workQueues } : {}),
    }),
  );
  const { apiKey } = await testTenantStore(systemClock).issueCredentials(tenantId);
  return { tenantId, apiKey };
}

type Lambda = (event: never, context: Context) => Promise<unknown>;

function call(
  handler: Lambda,
  apiKey: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  route: string,
  path: string,
  pathParameters: Record<string, string>,
  body?: unknown,
  query?: Record<string, string>,
): Promise<HttpResult> {
  return invoke(handler as never, {
    method: method as 'GET',
    routeKey: `${method} ${route}`,
    path,
    pathParameters,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(query ? { query } : {}),
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
}

export const ledgerApi = (apiKey: string) => ({
  join: (queueType: string, userId: string) =>
    call(
      putMemberHandler,
      apiKey,
      'PUT',
      '/v1/work-queues/{queueType}/members/{userId}',
      `/v1/work-queues/${queueType}/members/${userId}`,
      { queueType, userId },
    ),
  leave: (queueType: string, userId: string, body: unknown = { reason: 'call_completed' }) =>
    call(
      removeMemberHandler,
      apiKey,
      'DELETE',
      '/v1/work-queues/{queueType}/members/{userId}',
      `/v1/work-queues/${queueType}/members/${userId}`,
      { queueType, userId },
      body,
    ),
  members: (queueType: string, cursor?: string) =>
    call(
      listMembersHandler,
      apiKey,
      'GET',
      '/v1/work-queues/{queueType}/members',
      `/v1/work-queues/${queueType}/members`,
      { queueType },
      undefined,
      cursor ? { cursor } : undefined,
    ),
  event: (userId: string, body: unknown) =>
    call(
      recordEventHandler,
      apiKey,
      'POST',
      '/v1/users/{userId}/events',
      `/v1/users/${userId}/events`,
      { userId },
      body,
    ),
  validate: (queueType: string, body: unknown) =>
    call(
      validateHandler,
      apiKey,
      'POST',
      '/v1/work-queues/{queueType}/validate',
      `/v1/work-queues/${queueType}/validate`,
      { queueType },
      body,
    ),
  conversions: (query: Record<string, string> = {}) =>
    call(
      listConversionsHandler,
      apiKey,
      'GET',
      '/v1/conversions',
      '/v1/conversions',
      {},
      undefined,
      query,
    ),
  missing: () =>
    call(missingHandler, apiKey, 'GET', '/v1/conversions/missing', '/v1/conversions/missing', {}),
});

/** Every conversion of a user (read from the table, strongly consistent, all pages). */
export async function conversionsOf(tenantId: string, userId: string): Promise<ConversionItem[]> {
  const store = new DynamoDbLedgerStore(ddb, tableName('ledger'));
  const all: ConversionItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.conversionsOfUser(tenantId, userId, {}, cursor, 100);
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

/** Ledger deps whose clock runs `seconds` ahead (to put the reconciliation window behind us). */
export function depsAhead(seconds: number): LedgerDeps {
  return ledgerDeps({ clock: { now: () => systemClock.now() + seconds * 1000 } });
}
