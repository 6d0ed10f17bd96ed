/**
 * `findByClaim` decides which tenant a webhook's provider id routes to, and the webhooks cache that
 * answer for up to `CLAIM_RELEASE_HOLD_SECONDS` from before the read. That bound holds only if the
 * read sees every release committed before it: an eventually consistent read may return the claim
 * as it stood before a release, and the cache would then route to the old owner past the hold.
 * DynamoDB Local is always consistent, so the lagging replica is simulated here.
 */

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../functions/kernel/clock.js';
import { keys } from '../../functions/tenants/items.js';
import { DynamoDbTenantStore } from '../../functions/tenants/tenant-store.js';

describe('findByClaim', () => {
  it('reads the claim strongly consistently: a release a lagging replica does not show yet still counts', async () => {
    // Prepare: tenant A released the phone number id; a lagging replica still shows A's claim.
    const claim = keys.claim('whatsapp_phone', 'pn-1');
    const owned = {
      ...claim,
      tenantId: 'A',
      kind: 'whatsapp_phone',
      claimedAt: '2026-11-28T00:00:00.000Z',
    };
    const released = { ...owned, releasedAt: '2026-11-28T00:01:00.000Z', heldUntil: 1 };
    const tenantA = { ...keys.tenant('A'), tenantId: 'A', version: 1, name: 'A' };
    const send = async (command: unknown) => {
      if (!(command instanceof GetCommand)) throw new Error('unexpected command');
      const { Key, ConsistentRead } = command.input;
      if (Key?.pk === claim.pk) return { Item: ConsistentRead ? released : owned };
      if (Key?.pk === tenantA.pk) return { Item: tenantA };
      return {};
    };
    const ddb = { send } as unknown as DynamoDBDocumentClient;
    const store = new DynamoDbTenantStore(ddb, 'tenants', new ManualClock());

    // Act
    const found = await store.findByClaim('whatsapp_phone', 'pn-1');

    // Assess: the released id routes to no tenant.
    expect(found).toBeUndefined();
  });
});
