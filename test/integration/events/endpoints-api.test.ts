/**
 * The endpoints API through its real handlers (HTTP API v2 events, operator keys, DynamoDB Local),
 * and the SSRF guard at registration and at every delivery (a resolver seam plays the rebinding
 * DNS): no forbidden address is ever called.
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { deliver } from '../../../functions/events/deliver.js';
import { putEndpoint } from '../../../functions/events/endpoints.js';
import { handler as deleteHandler } from '../../../functions/events/handlers/delete-endpoint.js';
import { handler as attemptsHandler } from '../../../functions/events/handlers/list-attempts.js';
import { handler as listHandler } from '../../../functions/events/handlers/list-endpoints.js';
import { handler as putHandler } from '../../../functions/events/handlers/put-endpoint.js';
import { handler as replayHandler } from '../../../functions/events/handlers/replay-endpoint.js';
import { handler as rotateHandler } from '../../../functions/events/handlers/rotate-secret.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { testTenant } from '../../support/test-tenant.js';
import { apiCall, invoke } from '../conversations/inbound-support.js';
import {
  eventsWorld,
  firstDeliveryRef,
  pump,
  startReceiver,
  tableResolver,
  testEvent,
  testTenantId,
} from './events-support.js';

const ROUTE = '/v1/event-endpoints/{endpointId}';

function put(apiKey: string, endpointId: string, body: unknown) {
  return invoke(
    putHandler,
    apiCall(apiKey, {
      method: 'PUT',
      routeKey: `PUT ${ROUTE}`,
      path: `/v1/event-endpoints/${endpointId}`,
      pathParameters: { endpointId },
      body,
    }),
  );
}

function on(apiKey: string, endpointId: string, suffix: '' | '/attempts' | '/secret' | '/replay') {
  const path = `/v1/event-endpoints/${endpointId}${suffix}`;
  const base = { path, pathParameters: { endpointId } };
  switch (suffix) {
    case '':
      return invoke(
        deleteHandler,
        apiCall(apiKey, { ...base, method: 'DELETE', routeKey: `DELETE ${ROUTE}` }),
      );
    case '/attempts':
      return invoke(
        attemptsHandler,
        apiCall(apiKey, { ...base, method: 'GET', routeKey: `GET ${ROUTE}/attempts` }),
      );
    case '/secret':
      return invoke(
        rotateHandler,
        apiCall(apiKey, { ...base, method: 'POST', routeKey: `POST ${ROUTE}/secret` }),
      );
    case '/replay':
      return invoke(
        replayHandler,
        apiCall(apiKey, {
          ...base,
          method: 'POST',
          routeKey: `POST ${ROUTE}/replay`,
          body: { since: '2026-01-01T00:00:00Z' },
        }),
      );
  }
}

function list(apiKey: string) {
  return invoke(
    listHandler,
    apiCall(apiKey, {
      method: 'GET',
      routeKey: 'GET /v1/event-endpoints',
      path: '/v1/event-endpoints',
    }),
  );
}

describe('registration', () => {
  it('answers the secret once (created), never again, and never in a listing', async () => {
    const { apiKey } = await testTenant();
    const body = { url: 'https://93.184.216.34/hooks', eventTypes: ['message.sent'] };
    const first = await put(apiKey, 'ep1', body);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ endpointId: 'ep1', created: true });
    expect(first.json.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const again = await put(apiKey, 'ep1', { ...body, eventTypes: ['*'] });
    expect(again.json).toEqual({ endpointId: 'ep1', created: false });
    const listed = await list(apiKey);
    expect(listed.status).toBe(200);
    expect(listed.json.endpoints).toMatchObject([
      { endpointId: 'ep1', eventTypes: ['*'], state: 'active' },
    ]);
    expect(listed.text).not.toContain('whsec_');
    expect(listed.text).not.toContain('ecret');
  });

  it.each([
    'https://169.254.169.254/latest/meta-data/',
    'https://10.0.0.8/hooks',
    'https://[::ffff:127.0.0.1]/hooks',
    'https://[fd00:ec2::254]/',
    'https://localhost/hooks',
    'http://127.0.0.1:4010/_sim/receiver/a',
    'http://93.184.216.34/hooks',
  ])('refuses %s with 400 invalid_request and writes nothing', async (url) => {
    const { apiKey } = await testTenant();
    const answer = await put(apiKey, 'ep', { url, eventTypes: ['*'] });
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('invalid_request');
    expect(answer.json.error.details).toMatchObject([{ field: 'url' }]);
    expect((await list(apiKey)).json.endpoints).toEqual([]);
  });

  it('refuses unknown event types and extra fields with 400', async () => {
    const { apiKey } = await testTenant();
    for (const body of [
      { url: 'https://93.184.216.34/', eventTypes: ['message.exploded'] },
      { url: 'https://93.184.216.34/', eventTypes: [] },
      { url: 'https://93.184.216.34/', eventTypes: ['*'], secret: 'whsec_mine' },
    ]) {
      expect((await put(apiKey, 'ep', body)).status).toBe(400);
    }
  });
});

describe('tenant isolation', () => {
  it("another tenant's endpoint is 404 on every route, and untouched", async () => {
    const owner = await testTenant();
    const intruder = await testTenant();
    await put(owner.apiKey, 'shared-name', { url: 'https://93.184.216.34/', eventTypes: ['*'] });
    for (const suffix of ['', '/attempts', '/secret', '/replay'] as const) {
      const answer = await on(intruder.apiKey, 'shared-name', suffix);
      expect(answer.status, suffix).toBe(404);
      expect(answer.json.error.code).toBe('not_found');
    }
    expect((await list(intruder.apiKey)).json.endpoints).toEqual([]);
    expect((await list(owner.apiKey)).json.endpoints).toHaveLength(1);
    expect((await on(owner.apiKey, 'shared-name', '/attempts')).status).toBe(200);
    expect((await on(owner.apiKey, 'shared-name', '')).status).toBe(200);
    expect((await list(owner.apiKey)).json.endpoints).toEqual([]);
  });
});

describe('SSRF at delivery', () => {
  it('connects to the address it checked, not a second DNS answer (the host exists only in the test resolver)', async () => {
    // A bare server: the simulators' own routes refuse a non-loopback Host (their rebinding guard).
    const hosts: string[] = [];
    const server = createServer((req, res) => {
      hosts.push(req.headers.host ?? '');
      res.writeHead(204).end();
    });
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const resolver = tableResolver({ 'receiver.rebind.test': ['127.0.0.1'] });
      const world = await eventsWorld({ resolver });
      const tenantId = testTenantId();
      await putEndpoint(world.endpoints, tenantId, 'pinned', {
        url: `http://receiver.rebind.test:${port}/hooks`,
        eventTypes: ['*'],
      });
      await world.sink.accept([testEvent(tenantId)]);
      await pump(world);
      expect(hosts).toEqual([`receiver.rebind.test:${port}`]);
    } finally {
      await closeServer(server);
    }
  });

  it('a host that rebinds to a forbidden address after registration is never called', async () => {
    let answers = ['127.0.0.1'];
    const resolver = tableResolver({ 'receiver.rebind.test': () => answers });
    const world = await eventsWorld({ resolver });
    const receiver = await startReceiver();
    const tenantId = testTenantId();
    const name = `rebind-${tenantId}`;
    await putEndpoint(world.endpoints, tenantId, name, {
      url: receiver.url(name, 'receiver.rebind.test'),
      eventTypes: ['*'],
    });
    for (const forbidden of [
      '169.254.169.254',
      '10.0.0.1',
      'fd00:ec2::254',
      '::ffff:192.168.0.1',
    ]) {
      answers = [forbidden];
      const event = testEvent(tenantId);
      await world.sink.accept([event]);
      const ref = firstDeliveryRef(event, name);
      const outcome = await deliver(world.delivery, ref);
      expect(outcome.kind).toBe('later');
      const delivery = await world.store.getDelivery(ref);
      expect(delivery?.lastError).toMatch(/^refused: the url host resolves to a/);
    }
    expect(world.posts).toBe(0);
    expect(await receiver.deliveries(name)).toEqual([]);
  });
});
