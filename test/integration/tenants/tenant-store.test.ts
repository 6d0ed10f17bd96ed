/** Tenant configuration and credentials against the real DynamoDB Local. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { ConflictError, UnauthorizedError } from '../../../functions/kernel/errors.js';
import type { HttpRequest } from '../../../functions/kernel/http.js';
import { authenticate } from '../../../functions/tenants/index.js';
import {
  CLAIM_RELEASE_HOLD_SECONDS,
  tenantConfigSchema,
} from '../../../functions/tenants/tenant-store.js';
import { testTenantStore } from '../../support/tenant-store.js';

const clock = new ManualClock();
const id = () => `t-${randomUUID().slice(0, 8)}`;
const config = (phoneNumberIds: string[]) =>
  tenantConfigSchema.parse({
    name: 'Acme',
    defaultCountry: 'il',
    whatsapp: { phoneNumberIds },
  });
const bearer = (token: string) =>
  ({ headers: { authorization: `Bearer ${token}` } }) as unknown as HttpRequest;

describe('tenant configuration', () => {
  it('creates once, then updates; releases identifiers it no longer lists', async () => {
    const tenant = id();
    const phone = BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString();
    const other = BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString();
    expect(await testTenantStore(clock).putConfig(tenant, config([phone]))).toEqual({
      created: true,
    });
    expect(await testTenantStore(clock).putConfig(tenant, config([other]))).toEqual({
      created: false,
    });
    expect(await testTenantStore().findByClaim('whatsapp_phone', phone)).toBeUndefined();
    expect((await testTenantStore().findByClaim('whatsapp_phone', other))?.tenantId).toBe(tenant);
  });

  it('two tenants racing for one phone number id → exactly one owner, the other gets 409', async () => {
    const phone = BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString();
    const tenants = Array.from({ length: 8 }, id);
    const results = await Promise.allSettled(
      tenants.map((t) => testTenantStore(clock).putConfig(t, config([phone]))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
    }
    const owner = await testTenantStore().findByClaim('whatsapp_phone', phone);
    expect(tenants).toContain(owner?.tenantId);
  });
});

describe('a released identifier', () => {
  it('routes to no tenant, is held from other tenants for the webhook cache time, then can be taken', async () => {
    const clock = new ManualClock();
    const [first, second] = [id(), id()];
    const phone = BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString();
    await testTenantStore(clock).putConfig(first, config([phone]));
    await testTenantStore(clock).putConfig(first, config([]));

    // Released: nobody owns it, and another tenant is refused while caches may still route it.
    expect(await testTenantStore().findByClaim('whatsapp_phone', phone)).toBeUndefined();
    const held = testTenantStore(clock).putConfig(second, config([phone]));
    await expect(held).rejects.toBeInstanceOf(ConflictError);
    await expect(held).rejects.toThrow(/released by another tenant/);
    clock.advance(CLAIM_RELEASE_HOLD_SECONDS * 1000 - 1);
    await expect(testTenantStore(clock).putConfig(second, config([phone]))).rejects.toBeInstanceOf(
      ConflictError,
    );

    // After the hold the next tenant takes it; the tenant that released it could take it back earlier.
    clock.advance(1);
    expect(await testTenantStore(clock).putConfig(second, config([phone]))).toEqual({
      created: true,
    });
    expect((await testTenantStore().findByClaim('whatsapp_phone', phone))?.tenantId).toBe(second);
  });

  it('can be taken back at once by the tenant that released it', async () => {
    const clock = new ManualClock();
    const tenant = id();
    const phone = BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 15)}`).toString();
    await testTenantStore(clock).putConfig(tenant, config([phone]));
    await testTenantStore(clock).putConfig(tenant, config([]));
    await testTenantStore(clock).putConfig(tenant, config([phone]));
    expect((await testTenantStore().findByClaim('whatsapp_phone', phone))?.tenantId).toBe(tenant);
  });
});

describe('credentials', () => {
  it('issues credentials that authenticate, and a rotation invalidates the previous ones', async () => {
    const tenant = id();
    await testTenantStore(clock).putConfig(tenant, config([]));
    const first = await testTenantStore(clock).issueCredentials(tenant);
    expect(await authenticate(bearer(first.apiKey), 'api')).toBe(tenant);
    expect(await authenticate(bearer(first.exportToken), 'export')).toBe(tenant);
    // A credential of one kind never passes as another.
    await expect(authenticate(bearer(first.exportToken), 'api')).rejects.toBeInstanceOf(
      UnauthorizedError,
    );

    const second = await testTenantStore(clock).issueCredentials(tenant);
    await expect(authenticate(bearer(first.apiKey), 'api')).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(await authenticate(bearer(second.apiKey), 'api')).toBe(tenant);
  });
});
