/**
 * The tenant routes as a user meets them: the local runtime started as `npm start` starts it,
 * called over HTTP, including every error case of the contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallOptions, callJson } from '../support/http-client.js';
import { type SpawnedRuntime, spawnLocalRuntime } from '../support/local-runtime.js';

let runtime: SpawnedRuntime;
const ADMIN = 'e2e-admin-key';

beforeAll(async () => {
  runtime = await spawnLocalRuntime({ env: { ONCEFLOW_ADMIN_KEY: ADMIN } });
});
afterAll(async () => {
  await runtime?.stop();
});

async function call(method: string, path: string, options: CallOptions = {}) {
  const answer = await callJson(`${runtime.apiUrl}${path}`, method, options);
  return {
    status: answer.status,
    body: (answer.json ?? answer.text) as Record<string, unknown> & { error?: { code: string } },
  };
}

const tenantBody = (phoneNumberIds: string[]) => ({
  name: 'Acme Clinics',
  defaultCountry: 'IL',
  whatsapp: { phoneNumberIds },
  ghl: { locationIds: [`loc-${phoneNumberIds[0] ?? 'none'}`] },
  googleAds: {
    customerId: '1234567890',
    conversionAction: 'customers/1234567890/conversionActions/42',
    conversionName: 'Qualified call',
    uploadMode: 'script',
  },
  messagesPerSecond: 80,
});

describe('GET /health', () => {
  it('answers ok', async () => {
    expect(await call('GET', '/health')).toEqual({ status: 200, body: { status: 'ok' } });
  });
});

describe('PUT /v1/tenants/{tenantId}', () => {
  it('creates, then updates idempotently', async () => {
    const first = await call('PUT', '/v1/tenants/acme', {
      token: ADMIN,
      body: tenantBody(['1001']),
    });
    expect(first).toEqual({ status: 200, body: { tenantId: 'acme', created: true } });
    const again = await call('PUT', '/v1/tenants/acme', {
      token: ADMIN,
      body: tenantBody(['1001']),
    });
    expect(again).toEqual({ status: 200, body: { tenantId: 'acme', created: false } });
  });

  it('409 when another tenant owns the phone number id, and writes nothing', async () => {
    await call('PUT', '/v1/tenants/owner', { token: ADMIN, body: tenantBody(['2002']) });
    const clash = await call('PUT', '/v1/tenants/thief', {
      token: ADMIN,
      body: tenantBody(['2002']),
    });
    expect(clash.status).toBe(409);
    expect(clash.body.error?.code).toBe('conflict');
    // Nothing half-written: the tenant was not created, so credentials for it are 404.
    expect((await call('POST', '/v1/tenants/thief/credentials', { token: ADMIN })).status).toBe(
      404,
    );
  });

  it.each([
    ['no key', undefined, 401, 'unauthorized'],
    ['a wrong key', 'not-the-admin', 401, 'unauthorized'],
  ])('401 with %s', async (_label, token, status, code) => {
    const res = await call('PUT', '/v1/tenants/x', { token, body: tenantBody([]) });
    expect(res.status).toBe(status);
    expect(res.body.error?.code).toBe(code);
  });

  it('400 naming the bad fields', async () => {
    const res = await call('PUT', '/v1/tenants/x', {
      token: ADMIN,
      body: { name: '', defaultCountry: 'ZZ', messagesPerSecond: 0, surprise: 1 },
    });
    expect(res.status).toBe(400);
    const details = (res.body.error as unknown as { details: Array<{ field: string }> }).details;
    expect(details.map((d) => d.field).sort()).toEqual(
      ['defaultCountry', 'messagesPerSecond', 'name', 'surprise'].sort(),
    );
  });

  it('400 for malformed JSON, 415 for another content type, 413 over 1 MiB', async () => {
    expect((await call('PUT', '/v1/tenants/x', { token: ADMIN, raw: '{"name":' })).status).toBe(
      400,
    );
    const text = await call('PUT', '/v1/tenants/x', {
      token: ADMIN,
      raw: 'name=x',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(text).toMatchObject({
      status: 415,
      body: { error: { code: 'unsupported_media_type' } },
    });
    const huge = await call('PUT', '/v1/tenants/x', {
      token: ADMIN,
      body: { ...tenantBody([]), name: 'x'.repeat(1024 * 1024 + 10) },
    });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
  });

  it('404 in the contract shape for an unknown route', async () => {
    const res = await call('GET', '/v1/nothing-here', { token: ADMIN });
    expect(res).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });
});

describe('POST /v1/tenants/{tenantId}/credentials', () => {
  it('issues credentials shown once; a second issue invalidates the first', async () => {
    await call('PUT', '/v1/tenants/creds', { token: ADMIN, body: tenantBody(['3003']) });
    const first = await call('POST', '/v1/tenants/creds/credentials', { token: ADMIN });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      apiKey: expect.stringMatching(/^of_key_/),
      webhookToken: expect.stringMatching(/^of_whk_/),
      exportToken: expect.stringMatching(/^of_exp_/),
    });
    const second = await call('POST', '/v1/tenants/creds/credentials', { token: ADMIN });
    expect(second.body.apiKey).not.toBe(first.body.apiKey);
  });

  it('404 for a tenant that does not exist, 401 without the admin key', async () => {
    expect((await call('POST', '/v1/tenants/ghost/credentials', { token: ADMIN })).status).toBe(
      404,
    );
    expect((await call('POST', '/v1/tenants/ghost/credentials', { token: 'x' })).status).toBe(401);
  });
});
