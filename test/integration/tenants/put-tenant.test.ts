/**
 * `PUT /v1/tenants/{tenantId}` through its Lambda handler against DynamoDB Local: identical
 * concurrent PUTs all succeed (issue 7 item 6), an update that would need more writes than one
 * transaction holds is a 400 naming the limit with nothing written (issue 7 item 5), and ids over
 * 256 characters are a 400, never a 5xx.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { raceTrials } from '../../support/race.js';
import { testTenantStore } from '../../support/tenant-store.js';
import { type HttpResult, invoke } from '../conversations/inbound-support.js';

const { handler } = await import('../../../functions/tenants/handlers/put-tenant.js');

const ADMIN = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';

function putTenant(tenantId: string, body: unknown): Promise<HttpResult> {
  return invoke(handler, {
    method: 'PUT',
    routeKey: 'PUT /v1/tenants/{tenantId}',
    path: `/v1/tenants/${encodeURIComponent(tenantId)}`,
    pathParameters: { tenantId },
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const ids = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) =>
    // WhatsApp phone number ids are digits; the other ids take any id characters.
    prefix === 'pn'
      ? `${BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 12)}`)}${i}`
      : `${prefix}-${randomUUID().slice(0, 8)}-${i}`,
  );

function body(phones: string[], locations: string[] = [], instances: string[] = []) {
  return {
    name: 'Acme',
    defaultCountry: 'IL',
    whatsapp: { phoneNumberIds: phones },
    ghl: { locationIds: locations },
    whatsappWeb: { instances },
  };
}

describe('PUT /v1/tenants/{tenantId} under concurrency', () => {
  it('20 concurrent identical PUTs all answer 200, exactly one says created: true', async () => {
    await raceTrials({
      trials: 8,
      setup: () => ({ tenantId: `t-${randomUUID().slice(0, 8)}`, phones: ids('pn', 3) }),
      contenders: ({ tenantId, phones }) =>
        Array.from({ length: 20 }, () => () => putTenant(tenantId, body(phones))),
      check: async ({ tenantId, phones }, outcomes) => {
        const answers = outcomes.map((o) => {
          if (o.status === 'rejected') throw o.reason;
          return o.value as HttpResult;
        });
        expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
        expect(answers.filter((a) => a.json.created === true)).toHaveLength(1);
        const stored = await testTenantStore().get(tenantId, { consistent: true });
        expect(stored?.whatsapp?.phoneNumberIds).toEqual(phones);
        for (const phone of phones) {
          expect((await testTenantStore().findByClaim('whatsapp_phone', phone))?.tenantId).toBe(
            tenantId,
          );
        }
      },
    });
  });
});

describe('PUT /v1/tenants/{tenantId} at the identifier cap', () => {
  it('creating a tenant with 30 + 30 + 30 ids succeeds; replacing all 90 is a 400 naming the limit, nothing written', async () => {
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const first = body(ids('pn', 30), ids('loc', 30), ids('inst', 30));
    expect((await putTenant(tenantId, first)).status).toBe(200);
    const before = await testTenantStore().get(tenantId, { consistent: true });

    const replacement = body(ids('pn', 30), ids('loc', 30), ids('inst', 30));
    const answer = await putTenant(tenantId, replacement);
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('invalid_request');
    expect(answer.json.error.message).toMatch(/99/);

    const after = await testTenantStore().get(tenantId, { consistent: true });
    expect(after).toEqual(before);
    for (const phone of replacement.whatsapp.phoneNumberIds) {
      expect(await testTenantStore().findByClaim('whatsapp_phone', phone)).toBeUndefined();
    }
    for (const phone of first.whatsapp.phoneNumberIds) {
      expect((await testTenantStore().findByClaim('whatsapp_phone', phone))?.tenantId).toBe(
        tenantId,
      );
    }
  });

  it('an update changing exactly 99 ids applies; one more is a 400', async () => {
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    expect((await putTenant(tenantId, body(ids('pn', 30), ids('loc', 19)))).status).toBe(200);
    // 30 phones replaced (60 changes) + 19 locations replaced (38) + 1 instance added = 99.
    const atCap = body(ids('pn', 30), ids('loc', 19), ids('inst', 1));
    expect((await putTenant(tenantId, atCap)).status).toBe(200);
    expect(
      (await testTenantStore().get(tenantId, { consistent: true }))?.whatsappWeb?.instances,
    ).toEqual(atCap.whatsappWeb.instances);
    const overCap = body(ids('pn', 30), ids('loc', 19), ids('inst', 2));
    expect((await putTenant(tenantId, overCap)).status).toBe(400);
  });
});

describe('PUT /v1/tenants/{tenantId} with bad ids', () => {
  it('ids of 256 characters are accepted; over 256 (tenant or provider id) is a 400', async () => {
    const long = `t-${randomUUID()}`.padEnd(256, 'x');
    // Provider ids of any kind but WhatsApp phone number ids (digits, at most 64).
    expect((await putTenant(long, body([], [`p-${randomUUID()}`.padEnd(256, 'y')]))).status).toBe(
      200,
    );
    expect((await putTenant('t'.repeat(257), body([]))).status).toBe(400);
    expect((await putTenant(`t-${randomUUID()}`, body([], ['p'.repeat(257)]))).status).toBe(400);
    expect((await putTenant(`t-${randomUUID()}`, body(['1'.repeat(65)]))).status).toBe(400);
  });
});
