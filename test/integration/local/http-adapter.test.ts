/**
 * The local API adapter behaves like API Gateway's HTTP API: handlers get a payload format 2.0
 * event, results are mapped the way API Gateway maps them, and its own errors keep the contract's
 * shape (404 unknown route, 413 over 1 MiB) or API Gateway's (500 without detail).
 */
import { request as httpRequest, type Server } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advanceSystemClock, systemClockOffset } from '../../../functions/kernel/clock.js';
import {
  clearFailpoints,
  defineFailpoint,
  failpoint,
} from '../../../functions/kernel/failpoints.js';
import { type ApiRoute, createHttpAdapter } from '../../../lib/local/http-adapter.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { createHandlerLoader } from '../../../lib/local/lambda.js';
import { createLocalRoutes } from '../../../lib/local/local-routes.js';
import { PROJECT_ROOT } from '../../../lib/local/runtime.js';
import { openaiSimulator } from '../../../lib/local/sim/openai.js';
import { createSimulatorServer } from '../../../lib/local/simulators.js';

const FIXTURE = 'test/support/fixtures/http-fixture-handler.ts';
const fixture = (name: string) => ({ name, entry: FIXTURE, timeoutSeconds: 5, memoryMb: 256 });

const routes: ApiRoute[] = [
  { method: 'PUT', path: '/echo/v1/tenants/{tenantId}', fn: fixture('putTenant') },
  { method: 'GET', path: '/echo/v1/tenants/{tenantId}', fn: fixture('getTenant') },
  { method: 'GET', path: '/echo/v1/tenants/special', fn: fixture('special') },
  { method: 'POST', path: '/echo/files/{proxy+}', fn: fixture('files') },
  { method: 'POST', path: '/echo/upload', fn: fixture('upload') },
  { method: 'GET', path: '/throw', fn: fixture('throws') },
  { method: 'GET', path: '/plain', fn: fixture('plain') },
  { method: 'GET', path: '/string', fn: fixture('string') },
  { method: 'GET', path: '/binary', fn: fixture('binary') },
  { method: 'GET', path: '/malformed', fn: fixture('malformed') },
  { method: 'GET', path: '/missing', fn: { name: 'missing', entry: 'functions/nope/missing.ts' } },
];

const POINT = defineFailpoint('test.local-adapter.point', 'in the adapter test');
const logLines: string[] = [];
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  const log = (line: string) => logLines.push(line);
  server = createHttpAdapter({
    loader: createHandlerLoader({ projectRoot: PROJECT_ROOT, log }),
    routes,
    log,
    extraRoutes: createLocalRoutes({
      handlersLoaded: async () => {},
      queueStats: async () => [],
      isReady: () => true,
    }),
  });
  baseUrl = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  clearFailpoints();
  await closeServer(server);
});

async function echo(
  path: string,
  init?: RequestInit,
): Promise<{ event: APIGatewayProxyEventV2; context: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}${path}`, init);
  expect(response.status).toBe(200);
  return (await response.json()) as {
    event: APIGatewayProxyEventV2;
    context: Record<string, unknown>;
  };
}

describe('the event a handler receives', () => {
  it('is an HTTP API payload format 2.0 event', async () => {
    // Act
    const { event, context } = await echo('/echo/v1/tenants/acme%20co?a=1&a=2&b=x%20y', {
      method: 'PUT',
      headers: {
        'Content-Type': 'application/json',
        'X-Custom-Header': 'Yes',
        Cookie: 'session=abc; theme=dark',
        'User-Agent': 'onceflow-test',
      },
      body: JSON.stringify({ name: 'Acme' }),
    });

    // Assess
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'PUT /echo/v1/tenants/{tenantId}',
      rawPath: '/echo/v1/tenants/acme%20co',
      rawQueryString: 'a=1&a=2&b=x%20y',
      queryStringParameters: { a: '1,2', b: 'x y' },
      pathParameters: { tenantId: 'acme co' },
      cookies: ['session=abc', 'theme=dark'],
      body: '{"name":"Acme"}',
      isBase64Encoded: false,
      requestContext: {
        http: {
          method: 'PUT',
          path: '/echo/v1/tenants/acme%20co',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'onceflow-test',
        },
        routeKey: 'PUT /echo/v1/tenants/{tenantId}',
        stage: '$default',
      },
    });
    expect(event.headers).toMatchObject({
      'content-type': 'application/json',
      'x-custom-header': 'Yes',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
    });
    expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(event.headers.cookie).toBeUndefined();
    expect(event.requestContext.requestId).toMatch(/\S+/);
    expect(event.requestContext.time).toMatch(
      /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/,
    );
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(60_000);
    expect(context).toMatchObject({
      functionName: 'onceflow-putTenant',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:onceflow-putTenant',
      memoryLimitInMB: '256',
    });
    expect(context.remainingMs).toBeGreaterThan(0);
    expect(context.remainingMs).toBeLessThanOrEqual(5000);
  });

  it('leaves out body, query and path parameters when there are none', async () => {
    const { event } = await echo('/echo/v1/tenants/special');

    expect(event.routeKey).toBe('GET /echo/v1/tenants/special');
    expect(event.rawQueryString).toBe('');
    expect(event).not.toHaveProperty('body');
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('pathParameters');
    expect(event).not.toHaveProperty('cookies');
    expect(event.isBase64Encoded).toBe(false);
  });

  it('prefers the literal route over a parameter, and matches greedy paths', async () => {
    const literal = await echo('/echo/v1/tenants/special');
    const param = await echo('/echo/v1/tenants/other');
    const greedy = await echo('/echo/files/a/b/c.txt', { method: 'POST' });

    expect(literal.event.routeKey).toBe('GET /echo/v1/tenants/special');
    expect(param.event.pathParameters).toEqual({ tenantId: 'other' });
    expect(greedy.event.routeKey).toBe('POST /echo/files/{proxy+}');
    expect(greedy.event.pathParameters).toEqual({ proxy: 'a/b/c.txt' });
  });

  it('base64-encodes a binary body', async () => {
    // Prepare
    const bytes = Buffer.from([0, 159, 146, 150, 255]);

    // Act
    const { event } = await echo('/echo/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });

    // Assess
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(bytes);
  });
});

describe('what the client receives', () => {
  it('404 in the contract shape for an unknown route or method', async () => {
    for (const [method, path] of [
      ['GET', '/nowhere'],
      ['DELETE', '/echo/v1/tenants/t1'],
    ] as const) {
      const response = await fetch(`${baseUrl}${path}`, { method });
      expect(response.status).toBe(404);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('not_found');
      expect(body.error.message).toEqual(expect.any(String));
    }
  });

  it('413 payload_too_large for a body over 1 MiB, without calling the handler', async () => {
    const response = await fetch(`${baseUrl}/echo/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(1024 * 1024 + 1),
    });

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: { code: 'payload_too_large', message: expect.any(String) },
    });
  });

  it('accepts a body of exactly 1 MiB', async () => {
    const { event } = await echo('/echo/upload', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(1024 * 1024),
    });

    expect(event.body).toHaveLength(1024 * 1024);
  });

  it('500 {"message":"Internal Server Error"} when the handler throws, never a stack', async () => {
    const response = await fetch(`${baseUrl}/throw`);
    const text = await response.text();

    expect(response.status).toBe(500);
    expect(text).toBe('{"message":"Internal Server Error"}');
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(logLines.some((line) => line.includes('throws') && line.includes('boom'))).toBe(true);
  });

  it('500 when the handler module does not exist, and one log line for it', async () => {
    const first = await fetch(`${baseUrl}/missing`);
    const second = await fetch(`${baseUrl}/missing`);

    expect(first.status).toBe(500);
    expect(await second.text()).toBe('{"message":"Internal Server Error"}');
    expect(
      logLines.filter((line) => line.startsWith('[runtime] cannot load missing')),
    ).toHaveLength(1);
  });

  it('500 for a result API Gateway cannot map', async () => {
    const response = await fetch(`${baseUrl}/malformed`);

    expect(response.status).toBe(500);
    expect(await response.text()).toBe('{"message":"Internal Server Error"}');
  });

  it('maps unstructured results to 200 application/json', async () => {
    const plain = await fetch(`${baseUrl}/plain`);
    const text = await fetch(`${baseUrl}/string`);

    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('application/json');
    expect(await plain.json()).toEqual({ hello: 'world' });
    expect(text.status).toBe(200);
    expect(await text.text()).toBe('just text');
  });

  it('maps a structured result: status, headers, cookies, base64 body', async () => {
    const response = await fetch(`${baseUrl}/binary`);

    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(response.headers.get('apigw-requestid')).toEqual(expect.any(String));
    expect(Buffer.from(await response.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));
  });
});

describe('local-only routes', () => {
  it('lists, arms and clears failpoints; unknown names are 400', async () => {
    // Act
    const listed = (await (await fetch(`${baseUrl}/_local/failpoints`)).json()) as {
      failpoints: Array<{ name: string; armed: unknown }>;
    };
    const unknown = await fetch(`${baseUrl}/_local/failpoints`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ 'no.such.point': { probability: 1 } }),
    });
    const invalid = await fetch(`${baseUrl}/_local/failpoints`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ [POINT]: { probability: 2 } }),
    });
    const armed = await fetch(`${baseUrl}/_local/failpoints`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ [POINT]: { probability: 1, times: 1 } }),
    });

    // Assess
    expect(listed.failpoints.find((p) => p.name === POINT)).toMatchObject({ armed: null });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'invalid_request', details: [{ field: 'no.such.point' }] },
    });
    expect(invalid.status).toBe(400);
    expect(armed.status).toBe(200);
    expect(() => failpoint(POINT)).toThrow(/fired/);
    expect(() => failpoint(POINT)).not.toThrow();

    const cleared = await fetch(`${baseUrl}/_local/failpoints`, { method: 'DELETE' });
    expect(cleared.status).toBe(200);
  });

  it('moves the process clock forward', async () => {
    const before = systemClockOffset();

    const response = await fetch(`${baseUrl}/_local/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: 120 }),
    });
    const negative = await fetch(`${baseUrl}/_local/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: -1 }),
    });

    expect(response.status).toBe(200);
    expect(systemClockOffset() - before).toBe(120_000);
    expect(negative.status).toBe(400);
    advanceSystemClock(-120_000);
  });
});

/** A raw request, so the test chooses the `Host` header (fetch would not let it). */
function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; json: { error?: { code: string } } }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path: url.pathname, headers },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('local control routes refuse what a web page could send', () => {
  const advance = JSON.stringify({ seconds: 60 });
  const port = () => new URL(baseUrl).port;

  it.each([
    ['text/plain (a form-less cross-site POST)', 'text/plain;charset=UTF-8'],
    ['a urlencoded form', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['no content type', undefined],
  ])(
    'POST /_local/clock/advance with %s is 415 and leaves the clock alone',
    async (_what, type) => {
      const before = systemClockOffset();
      const answer = await rawRequest(
        baseUrl,
        'POST',
        '/_local/clock/advance',
        { host: `127.0.0.1:${port()}`, ...(type ? { 'content-type': type } : {}) },
        advance,
      );
      expect(answer.status).toBe(415);
      expect(answer.json.error?.code).toBe('unsupported_media_type');
      expect(systemClockOffset()).toBe(before);
    },
  );

  it.each([
    ['a DNS name rebound to 127.0.0.1', () => `attacker.example:${port()}`],
    ['a loopback name on another port', () => '127.0.0.1:1'],
    ['no port at all (port 80)', () => 'localhost'],
    ['a look-alike', () => `127.0.0.1.attacker.example:${port()}`],
  ])('a JSON write with the Host of %s is 403 and changes nothing', async (_what, host) => {
    const before = systemClockOffset();
    const clock = await rawRequest(
      baseUrl,
      'POST',
      '/_local/clock/advance',
      { host: host(), 'content-type': 'application/json' },
      advance,
    );
    const failpoints = await rawRequest(
      baseUrl,
      'PUT',
      '/_local/failpoints',
      { host: host(), 'content-type': 'application/json' },
      JSON.stringify({ [POINT]: { probability: 1 } }),
    );
    expect([clock.status, failpoints.status]).toEqual([403, 403]);
    expect(clock.json.error?.code).toBe('forbidden');
    expect(systemClockOffset()).toBe(before);
    expect(() => failpoint(POINT)).not.toThrow();
  });

  it.each(['127.0.0.1', 'localhost', 'LOCALHOST', '[::1]'])(
    'a JSON write with Host %s:<port> is served',
    async (name) => {
      const before = systemClockOffset();
      const answer = await rawRequest(
        baseUrl,
        'POST',
        '/_local/clock/advance',
        { host: `${name}:${port()}`, 'content-type': 'application/json; charset=utf-8' },
        advance,
      );
      expect(answer.status).toBe(200);
      expect(systemClockOffset() - before).toBe(60_000);
      advanceSystemClock(-60_000);
    },
  );

  it('reads stay open and a DELETE needs no body', async () => {
    const read = await rawRequest(baseUrl, 'GET', '/_local/clock', {
      host: `evil.example:${port()}`,
    });
    const cleared = await rawRequest(baseUrl, 'DELETE', '/_local/failpoints', {
      host: `localhost:${port()}`,
    });
    const textDelete = await rawRequest(baseUrl, 'DELETE', '/_local/failpoints', {
      host: `localhost:${port()}`,
      'content-type': 'text/plain',
    });
    expect([read.status, cleared.status, textDelete.status]).toEqual([200, 200, 415]);
  });

  it('the simulators refuse the same writes to /_sim/*', async () => {
    const sim = createSimulatorServer({
      context: {
        apiBaseUrl: 'http://127.0.0.1:9',
        simBaseUrl: '',
        env: () => undefined,
        log: () => {},
      },
      factories: [openaiSimulator],
    });
    const simBase = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
    const simPort = new URL(simBase).port;
    try {
      const faults = JSON.stringify({ openai: { errorRate: 1 } });
      const plain = await rawRequest(
        simBase,
        'PUT',
        '/_sim/faults',
        { host: `127.0.0.1:${simPort}`, 'content-type': 'text/plain' },
        faults,
      );
      const rebound = await rawRequest(
        simBase,
        'PUT',
        '/_sim/faults',
        { host: `attacker.example:${simPort}`, 'content-type': 'application/json' },
        faults,
      );
      const reset = await rawRequest(simBase, 'POST', '/_sim/reset', {
        host: `127.0.0.1:${simPort}`,
      });
      const set = await rawRequest(
        simBase,
        'PUT',
        '/_sim/faults',
        { host: `localhost:${simPort}`, 'content-type': 'application/json' },
        faults,
      );
      expect([plain.status, rebound.status, reset.status, set.status]).toEqual([
        415, 403, 415, 200,
      ]);
    } finally {
      await sim.closeModules();
      await closeServer(sim.server);
    }
  });
});
