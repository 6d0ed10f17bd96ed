/**
 * A tenant's provider credentials at rest: sealed (never in clear in the stored value), bound to
 * their tenant and provider (a sealed value copied onto another tenant or provider does not open),
 * under their own derived key (not the endpoints' signing-secret box), replaced by a later save;
 * each provider's body checked by its schema, nothing stored when it is refused.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { secretBox } from '../../../functions/kernel/secret-box.js';
import {
  loadProviderCredentials,
  PROVIDER_CREDENTIALS,
  type ProviderCredentialStore,
  providerCredentialSchemas,
  saveProviderCredentials,
} from '../../../functions/tenants/provider-credentials.js';

function memoryStore(): ProviderCredentialStore & { readonly items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    put: async (tenantId, provider, sealed) => {
      items.set(`${tenantId}/${provider}`, sealed);
    },
    get: async (tenantId, provider) => items.get(`${tenantId}/${provider}`),
  };
}

const box = secretBox('platform-sealing-key', PROVIDER_CREDENTIALS);
const deps = (store: ProviderCredentialStore) => ({
  store,
  box,
  clock: new ManualClock(Date.parse('2026-12-07T05:00:00.000Z')),
  checkUrl: async () => {},
});

describe('tenant provider credentials', () => {
  it('are stored sealed, open for their own tenant and provider only, and a later save replaces them', async () => {
    const store = memoryStore();
    await saveProviderCredentials(deps(store), 't-a', 'unipile', { apiKey: 'UNIPILE-KEY-A-123' });
    const sealed = store.items.get('t-a/unipile') as string;
    expect(sealed).not.toContain('UNIPILE-KEY-A-123');
    expect(await loadProviderCredentials(deps(store), 't-a', 'unipile')).toEqual({
      apiKey: 'UNIPILE-KEY-A-123',
    });

    // Copied onto another tenant, or under another provider, it does not open.
    store.items.set('t-b/unipile', sealed);
    await expect(loadProviderCredentials(deps(store), 't-b', 'unipile')).rejects.toThrow();
    store.items.set('t-a/ghl', sealed);
    await expect(loadProviderCredentials(deps(store), 't-a', 'ghl')).rejects.toThrow();
    // Nor under the endpoints' signing-secret box (another derived key).
    expect(() => secretBox('platform-sealing-key').open(sealed, 't-a|unipile')).toThrow();

    await saveProviderCredentials(deps(store), 't-a', 'unipile', { apiKey: 'UNIPILE-KEY-A-456' });
    expect((await loadProviderCredentials(deps(store), 't-a', 'unipile'))?.apiKey).toBe(
      'UNIPILE-KEY-A-456',
    );
  });

  it('a body its provider does not take is a 400 and nothing is stored', async () => {
    const store = memoryStore();
    for (const body of [{ apiKey: 'short' }, { apiKey: 'has space 123' }, { token: 'x' }, {}]) {
      await expect(
        saveProviderCredentials(deps(store), 't-a', 'unipile', body),
      ).rejects.toMatchObject({ status: 400 });
    }
    expect(store.items.size).toBe(0);
    expect(await loadProviderCredentials(deps(store), 't-a', 'unipile')).toBeUndefined();
  });

  it("Unipile's key is one opaque token without spaces, 8-512 characters", () => {
    const schema = providerCredentialSchemas.unipile;
    expect(schema.safeParse({ apiKey: 'abcd1234' }).success).toBe(true);
    for (const apiKey of ['short', 'has space 123', 'x'.repeat(513)]) {
      expect(schema.safeParse({ apiKey }).success).toBe(false);
    }
    expect(schema.safeParse({ apiKey: 'abcd1234', extra: 1 }).success).toBe(false);
  });
});
