/**
 * A tenant's Unipile key at rest: sealed (never in clear in the stored item), bound to its tenant
 * (a sealed key copied onto another tenant does not open), replaced by a later PUT, and refused
 * (404, nothing stored) for a tenant that does not exist.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { secretBox } from '../../../functions/kernel/secret-box.js';
import {
  openProviderKey,
  PROVIDER_KEY_PURPOSE,
  type ProviderKeyStore,
  providerKeyBodySchema,
  setProviderKey,
} from '../../../functions/tenants/provider-keys.js';

function memoryStore(): ProviderKeyStore & { readonly items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    put: async (tenantId, provider, sealed) => {
      items.set(`${tenantId}/${provider}`, sealed);
    },
    getSealed: async (tenantId, provider) => items.get(`${tenantId}/${provider}`),
  };
}

const box = secretBox('platform-sealing-key', PROVIDER_KEY_PURPOSE);
const deps = (keys: ProviderKeyStore, known: readonly string[] = ['t-a', 't-b']) => ({
  keys,
  box,
  clock: new ManualClock(Date.parse('2026-12-07T05:00:00.000Z')),
  tenantExists: async (id: string) => known.includes(id),
});

describe('tenant provider keys', () => {
  it('are stored sealed, open for their own tenant only, and a later PUT replaces them', async () => {
    const keys = memoryStore();
    await setProviderKey(deps(keys), 't-a', 'unipile', 'UNIPILE-KEY-A-123');
    const sealed = keys.items.get('t-a/unipile') as string;
    expect(sealed).not.toContain('UNIPILE-KEY-A-123');
    expect(await openProviderKey({ keys, box }, 't-a', 'unipile')).toBe('UNIPILE-KEY-A-123');

    // Copied onto another tenant, it does not open.
    keys.items.set('t-b/unipile', sealed);
    await expect(openProviderKey({ keys, box }, 't-b', 'unipile')).rejects.toThrow(/does not open/);
    // Nor under the endpoints' signing-secret box (another derived key).
    expect(() =>
      secretBox('platform-sealing-key').open(sealed, 'provider-key:unipile:t-a'),
    ).toThrow();

    await setProviderKey(deps(keys), 't-a', 'unipile', 'UNIPILE-KEY-A-456');
    expect(await openProviderKey({ keys, box }, 't-a', 'unipile')).toBe('UNIPILE-KEY-A-456');
  });

  it('a tenant that does not exist is 404 and nothing is stored', async () => {
    const keys = memoryStore();
    await expect(
      setProviderKey(deps(keys, []), 't-x', 'unipile', 'KEY-12345'),
    ).rejects.toMatchObject({ status: 404 });
    expect(keys.items.size).toBe(0);
    expect(await openProviderKey({ keys, box }, 't-x', 'unipile')).toBeUndefined();
  });

  it('the body is one opaque key without spaces, 8-512 characters', () => {
    expect(providerKeyBodySchema.safeParse({ apiKey: 'abcd1234' }).success).toBe(true);
    for (const apiKey of ['short', 'has space 123', 'x'.repeat(513)]) {
      expect(providerKeyBodySchema.safeParse({ apiKey }).success).toBe(false);
    }
    expect(providerKeyBodySchema.safeParse({ apiKey: 'abcd1234', extra: 1 }).success).toBe(false);
  });
});
