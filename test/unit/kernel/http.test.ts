import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { NotFoundError } from '../../../functions/kernel/errors.js';
import {
  armFailpoints,
  clearFailpoints,
  defineFailpoint,
  failpoint,
} from '../../../functions/kernel/failpoints.js';
import { httpHandler, parseJsonBody, pathParam } from '../../../functions/kernel/http.js';

const crashPoint = defineFailpoint('test.http.mid-handler', 'inside a unit-test route');

function event(overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /things/{thingId}',
    rawPath: '/things/t-1',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    pathParameters: { thingId: 't-1' },
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: 'POST',
        path: '/things/t-1',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: 'r-1',
      routeKey: 'POST /things/{thingId}',
      stage: '$default',
      time: '22/Nov/2026:05:00:00 +0000',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
    body: '{"name":"x","count":2}',
    ...overrides,
  };
}

const context = { functionName: 'test', awsRequestId: 'r-1' } as unknown as Context;

const schema = z.object({ name: z.string().min(1), count: z.number().int().positive() }).strict();

const handler = httpHandler(async (request) => {
  const id = pathParam(request, 'thingId');
  const body = parseJsonBody(request, schema);
  if (body.name === 'missing') throw new NotFoundError();
  if (body.name === 'boom') throw new Error('database exploded at /secret/path');
  if (body.name === 'crash') failpoint(crashPoint);
  return { status: 201, body: { id, ...body } };
});

async function call(overrides: Partial<APIGatewayProxyEventV2> = {}) {
  const result = await handler(event(overrides), context);
  return { status: result.statusCode, body: JSON.parse(String(result.body || 'null')) };
}

describe('httpHandler', () => {
  afterEach(() => clearFailpoints());

  it('passes a valid request through', async () => {
    expect(await call()).toEqual({ status: 201, body: { id: 't-1', name: 'x', count: 2 } });
  });

  it('parses the event with Powertools Parser: one that is not payload format 2.0 never reaches the route', async () => {
    const broken = await call({
      requestContext: {
        ...event().requestContext,
        http: { ...event().requestContext.http, sourceIp: 'not-an-ip' },
      },
    });
    expect(broken.status).toBe(500);
    expect(broken.body.error.code).toBe('internal_error');
  });

  it('accepts ids up to 256 characters and refuses longer ones with a 400', async () => {
    const id = 'a'.repeat(256);
    expect((await call({ pathParameters: { thingId: id } })).status).toBe(201);
    const tooLong = await call({ pathParameters: { thingId: `${id}b` } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.details[0].field).toBe('thingId');
  });

  it('answers 415 in the contract shape for a non-JSON content type', async () => {
    const res = await call({ headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('answers 400 for malformed JSON', async () => {
    const res = await call({ body: '{"name":' });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
  });

  it('names every bad field in details', async () => {
    const res = await call({ body: '{"name":"","count":-1,"extra":true}' });
    expect(res.status).toBe(400);
    const fields = res.body.error.details.map((d: { field: string }) => d.field).sort();
    expect(fields).toEqual(['count', 'extra', 'name']);
  });

  it('answers 413 for bodies over 1 MiB', async () => {
    const res = await call({ body: JSON.stringify({ name: 'x'.repeat(1024 * 1024), count: 1 }) });
    expect(res).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
  });

  it('decodes base64 bodies as API Gateway sends them', async () => {
    const body = Buffer.from('{"name":"b64","count":1}').toString('base64');
    expect((await call({ body, isBase64Encoded: true })).body.name).toBe('b64');
  });

  it('rejects path parameters that could smuggle key separators', async () => {
    const res = await call({ pathParameters: { thingId: 'a#b' } });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
  });

  it('maps domain errors to their status', async () => {
    expect((await call({ body: '{"name":"missing","count":1}' })).status).toBe(404);
  });

  it('answers 500 without internals for unexpected errors', async () => {
    const res = await call({ body: '{"name":"boom","count":1}' });
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('secret');
    expect(res.body.error.code).toBe('internal_error');
  });

  it('lets a failpoint crash propagate like a real crash', async () => {
    process.env.ONCEFLOW_FAILPOINTS = 'on';
    armFailpoints({ [crashPoint]: { probability: 1 } });
    await expect(call({ body: '{"name":"crash","count":1}' })).rejects.toThrow(/failpoint/);
  });
});
