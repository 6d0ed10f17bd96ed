/**
 * Unipile test helpers: tenants owning Unipile accounts, payloads built from the fixtures in
 * `test/fixtures/providers/unipile/` (written from Unipile's webhook pages), and the real
 * `POST /webhooks/unipile` handler invoked with the tenant's token.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { keys, type MessageItem, messageIdFor } from '../../../functions/conversations/index.js';
import { toMessageItem } from '../../../functions/conversations/items.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import type { UnipileAccountType } from '../../../functions/tenants/index.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { unipileSimulator } from '../../../lib/local/sim/unipile.js';
import { createSimulatorServer } from '../../../lib/local/simulators.js';
import { testSqsClient } from '../../support/emulators.js';
import { testTenant } from '../../support/test-tenant.js';
import {
  type HttpResult,
  invoke,
  privateJobsQueue,
  type TestTenant,
} from '../conversations/inbound-support.js';

export interface UnipileTenant extends Pick<TestTenant, 'tenantId' | 'apiKey' | 'webhookToken'> {
  /** The tenant's Unipile accounts (the first is the default of every payload). */
  readonly accountIds: readonly string[];
}

/** A Unipile account id: 22 url-safe characters, as Unipile's. */
export function unipileAccountId(): string {
  return randomUUID().replaceAll('-', '').slice(0, 22);
}

export async function unipileTenant(
  accounts = 1,
  dsn = '127.0.0.1:4010',
  /** Every account's type (`unipile.accountTypes`), when the test replies through them. */
  accountType?: UnipileAccountType,
): Promise<UnipileTenant> {
  const accountIds = Array.from({ length: accounts }, unipileAccountId);
  const accountTypes = accountType
    ? Object.fromEntries(accountIds.map((id) => [id, accountType]))
    : undefined;
  const tenant = await testTenant({
    unipile: { accountIds, dsn, ...(accountTypes ? { accountTypes } : {}) },
  });
  return {
    tenantId: tenant.tenantId,
    apiKey: tenant.apiKey,
    webhookToken: tenant.webhookToken,
    accountIds,
  };
}

export interface UnipileFixture {
  readonly source: string;
  readonly shape: string;
  readonly human: string | null;
  readonly expect: { stored?: number; ignored?: boolean };
  readonly payload: Record<string, unknown>;
}

export function unipileFixtureFile(name: string): UnipileFixture {
  return JSON.parse(
    readFileSync(new URL(`../../fixtures/providers/unipile/${name}.json`, import.meta.url), 'utf8'),
  );
}

/** A fixture's payload for `accountId`, with `overrides` on top (e.g. a fresh `message_id`). */
export function unipilePayload(
  name: string,
  accountId: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return { ...unipileFixtureFile(name).payload, account_id: accountId, ...overrides };
}

/** One delivery to the real handler; the token goes in `X-Webhook-Token` unless `query` says so. */
export async function postUnipile(
  payload: unknown,
  token: string | undefined,
  how: 'header' | 'query' = 'header',
): Promise<HttpResult> {
  const { handler } = await import('../../../functions/webhooks/handlers/receive-unipile.js');
  return invoke(handler, {
    method: 'POST',
    routeKey: 'POST /webhooks/unipile',
    path: '/webhooks/unipile',
    headers: {
      'content-type': 'application/json',
      ...(token && how === 'header' ? { 'x-webhook-token': token } : {}),
    },
    ...(token && how === 'query' ? { query: { token } } : {}),
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

/** The stored message of a provider dedupe key, as the conversations context reads it. */
export async function storedMessage(
  tenantId: string,
  dedupeKey: string,
): Promise<MessageItem | undefined> {
  const out = await ddb.send(
    new GetCommand({
      TableName: tableName('inbound'),
      Key: keys.message(messageIdFor(tenantId, dedupeKey)),
      ConsistentRead: true,
    }),
  );
  return out.Item ? toMessageItem(out.Item) : undefined;
}

/** A fresh Unipile-style message id. */
export function freshId(): string {
  return randomUUID().replaceAll('-', '').slice(0, 22);
}

/**
 * The real `POST /webhooks/unipile` handler behind a local port, as the deployed route serves it
 * (the Unipile simulator posts its webhooks there).
 */
export async function serveUnipileWebhook(): Promise<{ server: Server; url: string }> {
  const { handler } = await import('../../../functions/webhooks/handlers/receive-unipile.js');
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://local');
      const answer = await invoke(handler, {
        method: 'POST',
        routeKey: 'POST /webhooks/unipile',
        path: url.pathname,
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, String(v ?? '')]),
        ),
        query: Object.fromEntries(url.searchParams),
        body,
      });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text);
    });
  });
  return { server, url: `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}` };
}

/** A JSON call to a simulator (`base`), its status and parsed answer. */
export async function simJsonAt(
  base: string,
  path: string,
  init: RequestInit = {},
  // biome-ignore lint/suspicious/noExplicitAny: test convenience for asserting on JSON answers
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, init);
  return { status: res.status, json: await res.json() };
}

/** The Unipile simulator posting its webhooks to the real handler, with a jobs queue of the file's own. */
export interface UnipileStage {
  /** Where the real `POST /webhooks/unipile` handler listens (a webhook's `request_url` base). */
  readonly apiUrl: string;
  /** The Unipile simulator's base URL. */
  readonly simUrl: string;
  close(): Promise<void>;
}

/**
 * Starts what a test of Unipile against its simulator stands on: a private jobs queue (the filed
 * messages' rings go there, not to the shared one), the real webhook handler behind a local port,
 * and the Unipile simulator (its data under a fresh `dataDirPrefix…` folder) that posts to it.
 */
export async function startUnipileStage(dataDirPrefix: string): Promise<UnipileStage> {
  const sqs: SQSClient = testSqsClient();
  await privateJobsQueue(sqs);
  const { server: api, url: apiUrl } = await serveUnipileWebhook();
  const sim = createSimulatorServer({
    context: {
      apiBaseUrl: apiUrl,
      simBaseUrl: '',
      env: (name) =>
        name === 'ONCEFLOW_DATA_DIR'
          ? mkdtempSync(join(tmpdir(), dataDirPrefix))
          : process.env[name],
      log: () => {},
    },
    factories: [unipileSimulator],
  });
  const simUrl = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
  return {
    apiUrl,
    simUrl,
    close: async () => {
      await sim.closeModules();
      await closeServer(sim.server);
      await closeServer(api);
      sqs.destroy();
    },
  };
}
