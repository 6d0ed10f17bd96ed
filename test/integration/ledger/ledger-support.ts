/**
 * Drives the ledger's real handlers with HTTP API v2 events, and reads what the store holds, for
 * the ledger integration tests, the crash matrix and the bench.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { ddb, dynamodbClient } from '../../../functions/kernel/clients.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { handler as listConversionsHandler } from '../../../functions/ledger/handlers/list-conversions.js';
import { handler as listMembersHandler } from '../../../functions/ledger/handlers/list-members.js';
import { handler as missingHandler } from '../../../functions/ledger/handlers/list-missing-conversions.js';
import { handler as putMemberHandler } from '../../../functions/ledger/handlers/put-member.js';
import { handler as recordEventHandler } from '../../../functions/ledger/handlers/record-event.js';
import { handler as removeMemberHandler } from '../../../functions/ledger/handlers/remove-member.js';
import { handler as validateHandler } from '../../../functions/ledger/handlers/validate-queue.js';
import {
  type ConversionItem,
  DynamoDbLedgerStore,
  type LedgerDeps,
  ledgerDeps,
} from '../../../functions/ledger/index.js';
import { testTenant } from '../../support/test-tenant.js';
import { apiCall, type HttpResult, invoke } from '../conversations/inbound-support.js';

export interface LedgerTenant {
  readonly tenantId: string;
  readonly apiKey: string;
}

export async function createLedgerTenant(
  workQueues?: Record<string, string>,
): Promise<LedgerTenant> {
  const { tenantId, apiKey } = await testTenant(workQueues ? { workQueues } : {}, {
    idPrefix: 'lt',
  });
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
  return invoke(
    handler as never,
    apiCall(apiKey, {
      method,
      routeKey: `${method} ${route}`,
      path,
      pathParameters,
      ...(query ? { query } : {}),
      body,
    }),
  );
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

/**
 * A join whose write is held back after it read the clock, as an SDK retry after throttling would
 * hold it on AWS: a middleware on the handlers' own DynamoDB client (DynamoDB Local) that parks the
 * `nth` write of `userId`'s member carrying a `joinedAt` until `release()`. `held` resolves once
 * the join's write is parked (its `joinedAt` is then already taken).
 */
export function holdJoinWrite(
  userId: string,
  /** Which of the join's writes to park: 1 = the first stay's create, 2 = the next stay's. */
  nth = 1,
): {
  readonly held: Promise<void>;
  release(): void;
  remove(): void;
} {
  const name = `hold-join-${userId}`;
  let entered: () => void = () => {};
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let seen = 0;
  dynamodbClient.middlewareStack.add(
    (next) => async (args) => {
      const input = JSON.stringify((args as { input?: unknown }).input ?? {});
      // Only a join writes `joinedAt` (reads name keys only; leaving and evidence write other fields).
      if (input.includes(`U#${userId}"`) && input.includes('joinedAt') && ++seen === nth) {
        entered();
        await gate;
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return { held, release, remove: () => dynamodbClient.middlewareStack.remove(name) };
}

/** Each write of a member carrying a `joinedAt` waits `delayMs()` first (a throttled, retried join). */
export function delayJoinWrites(delayMs: () => number): () => void {
  const name = `delay-joins-${randomUUID()}`;
  dynamodbClient.middlewareStack.add(
    (next) => async (args) => {
      const input = JSON.stringify((args as { input?: unknown }).input ?? {});
      if (input.includes('"U#') && input.includes('joinedAt')) {
        await new Promise((resolve) => setTimeout(resolve, delayMs()));
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return () => dynamodbClient.middlewareStack.remove(name);
}

/**
 * The ledger's invariant for one user and queue after every path ran: the conversions logged are
 * exactly those of the stays (as finally recorded, the open one running to the end of time) that
 * hold the evidence time, and the evidence is applied.
 */
export async function expectConversionsMatchStays(
  tenantId: string,
  queueType: string,
  userId: string,
  eventType: string,
): Promise<void> {
  const { store } = ledgerDeps();
  const member = await store.getMember(tenantId, queueType, userId);
  const past = await store.pastStays(tenantId, queueType, userId);
  const evidence = await store.evidenceOf(tenantId, userId, eventType);
  const stays = [
    ...past,
    ...(member
      ? [{ stayId: member.stayId, joinedAt: member.joinedAt, leftAt: member.leftAt ?? '9999' }]
      : []),
  ];
  const holding = stays
    .filter((s) => evidence.some((e) => s.joinedAt <= e.effectiveAt && e.effectiveAt <= s.leftAt))
    .map((s) => s.stayId)
    .sort();
  const logged = (await conversionsOf(tenantId, userId)).map((c) => c.stayId).sort();
  if (JSON.stringify(logged) !== JSON.stringify(holding)) {
    throw new Error(
      `conversions ${JSON.stringify(logged)} but stays holding evidence ${JSON.stringify(holding)}: ` +
        `member ${JSON.stringify(member)}, evidence at ${evidence.map((e) => e.effectiveAt)}`,
    );
  }
  for (const e of evidence) {
    if (e.state !== 'applied') throw new Error(`evidence ${e.evidenceId} is still ${e.state}`);
  }
}
