/**
 * `/health` and `/_local/ready` (api.md): 200 only when the store answers, 503
 * `{"status":"unavailable"}` otherwise, and locally never 200 before the runtime is ready. Unknown
 * routes are answered by the manifest's `$default` function, as on AWS.
 */
import type { Server } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, DynamoDbStoreProbe } from '../../../functions/health/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import { createHttpAdapter } from '../../../lib/local/http-adapter.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { createHandlerLoader } from '../../../lib/local/lambda.js';
import { createLocalRoutes } from '../../../lib/local/local-routes.js';
import { PROJECT_ROOT } from '../../../lib/local/runtime.js';

let ready = false;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  const log = () => {};
  server = createHttpAdapter({
    loader: createHandlerLoader({ projectRoot: PROJECT_ROOT, log }),
    log,
    isReady: () => ready,
    extraRoutes: createLocalRoutes({
      handlersLoaded: async () => {},
      queueStats: async () => [],
      isReady: () => ready,
    }),
  });
  baseUrl = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  await closeServer(server);
});

async function get(path: string, method = 'GET') {
  const response = await fetch(`${baseUrl}${path}`, { method });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('local readiness', () => {
  it('answers 503 on /health and /_local/ready until the runtime is ready, then 200', async () => {
    ready = false;
    expect(await get('/health')).toEqual({ status: 503, body: { status: 'unavailable' } });
    expect(await get('/_local/ready')).toEqual({ status: 503, body: { ready: false } });
    ready = true;
    expect(await get('/health')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get('/_local/ready')).toEqual({ status: 200, body: { ready: true } });
  });
});

describe('the store probe behind /health', () => {
  it('is healthy when DynamoDB answers a read of the tenants table', async () => {
    const answer = await checkHealth(new DynamoDbStoreProbe(ddb, tableName('tenants')));
    expect(answer).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('is 503 when the table does not exist', async () => {
    const answer = await checkHealth(new DynamoDbStoreProbe(ddb, 'no-such-table'));
    expect(answer).toEqual({ status: 503, body: { status: 'unavailable' } });
  });

  it('is 503 when nothing listens at the store endpoint', async () => {
    const unreachable = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: 'http://127.0.0.1:9', maxAttempts: 1 }),
    );
    const answer = await checkHealth(new DynamoDbStoreProbe(unreachable, 'tenants', 500));
    expect(answer).toEqual({ status: 503, body: { status: 'unavailable' } });
    unreachable.destroy();
  });
});

describe('the $default route', () => {
  it("answers an unknown path or method with the contract's 404 from the notFound function", async () => {
    ready = true;
    for (const [method, path] of [
      ['GET', '/nope'],
      ['DELETE', '/v1/tenants/acme'],
    ] as const) {
      const answer = await get(path, method);
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual({
        error: { code: 'not_found', message: `No route for ${method} ${path}.` },
      });
    }
  });
});
