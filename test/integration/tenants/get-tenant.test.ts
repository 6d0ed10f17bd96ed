/**
 * `GET /v1/tenants/{tenantId}` through its Lambda handler against DynamoDB Local: the admin sees the
 * configuration it PUT, never a credential hash; unknown tenant 404; no admin key 401.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type HttpResult, invoke } from '../conversations/inbound-support.js';

const getTenant = (await import('../../../functions/tenants/handlers/get-tenant.js')).handler;
const putTenant = (await import('../../../functions/tenants/handlers/put-tenant.js')).handler;
const issue = (await import('../../../functions/tenants/handlers/issue-credentials.js')).handler;

const ADMIN = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';

function call(
  handler: typeof getTenant,
  method: 'GET' | 'PUT' | 'POST',
  tenantId: string,
  options: { body?: unknown; token?: string; suffix?: string } = {},
): Promise<HttpResult> {
  const path = `/v1/tenants/${encodeURIComponent(tenantId)}${options.suffix ?? ''}`;
  return invoke(handler, {
    method,
    routeKey: `${method} /v1/tenants/{tenantId}${options.suffix ?? ''}`,
    path,
    pathParameters: { tenantId },
    headers: {
      authorization: `Bearer ${options.token ?? ADMIN}`,
      'content-type': 'application/json',
    },
    ...(options.body ? { body: JSON.stringify(options.body) } : {}),
  });
}

describe('GET /v1/tenants/{tenantId}', () => {
  it('answers the stored configuration, and after credentials are issued still no hash', async () => {
    // Prepare
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const config = {
      name: 'Acme Clinics',
      defaultCountry: 'IL',
      whatsapp: {
        phoneNumberIds: [BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString()],
      },
      whatsappWeb: { instances: [`web-${tenantId}`] },
      messagesPerSecond: 40,
    };
    expect((await call(putTenant, 'PUT', tenantId, { body: config })).status).toBe(200);
    const before = await call(getTenant, 'GET', tenantId);
    const issued = await call(issue, 'POST', tenantId, { suffix: '/credentials' });
    expect(issued.status).toBe(201);

    // Act
    const after = await call(getTenant, 'GET', tenantId);

    // Assess
    expect(before.status).toBe(200);
    expect(before.json).toMatchObject({ ...config, tenantId, credentialsIssued: false });
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({
      ...config,
      tenantId,
      unknownOutcome: 'hold',
      credentialsIssued: true,
    });
    expect(after.json).not.toHaveProperty('credentials');
    const text = JSON.stringify(after.json);
    // Neither the secrets nor anything hash-shaped (64 hex digits) leaves the store.
    for (const secret of Object.values(issued.json as Record<string, string>)) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });

  it('is 404 for an unknown tenant and 401 without the admin key', async () => {
    // Act
    const unknown = await call(getTenant, 'GET', `missing-${randomUUID()}`);
    const noAdmin = await call(getTenant, 'GET', 'acme', { token: 'of_key_not-admin' });
    const tooLong = await call(getTenant, 'GET', 'x'.repeat(257));

    // Assess
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: { code: 'not_found' } });
    expect(noAdmin.status).toBe(401);
    expect(tooLong.status).toBe(400);
  });
});
