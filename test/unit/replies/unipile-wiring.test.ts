/**
 * The Unipile reply channel's wiring, without a network: which channels a tenant's Unipile
 * accounts give (their declared types), the SSRF guard on the tenant-given DSN (every address the
 * host resolves to must be public; a refused DSN is a rejection and nothing is sent), and a tenant
 * without a key rejected the same way.
 */
import { describe, expect, it } from 'vitest';
import type { Resolver } from '../../../functions/kernel/ssrf.js';
import type { ReplySend } from '../../../functions/replies/channel.js';
import {
  checkedUnipileBaseUrl,
  createUnipileChannel,
  UnipileNotConfiguredError,
} from '../../../functions/replies/channels/unipile.js';
import { tenantChannels } from '../../../functions/replies/deps.js';
import type { Tenant } from '../../../functions/tenants/index.js';

const resolverAnswering = (address: string): Resolver => ({
  resolve: async () => [{ address, family: address.includes(':') ? 6 : 4 }],
});
const noOverride: NodeJS.ProcessEnv = {};

function tenant(unipile: Tenant['unipile'], whatsapp?: string): Tenant {
  return {
    tenantId: 't-1',
    name: 'T',
    defaultCountry: 'IL',
    messagesPerSecond: 80,
    unknownOutcome: 'hold',
    version: 1,
    createdAt: '2026-12-07T00:00:00.000Z',
    updatedAt: '2026-12-07T00:00:00.000Z',
    ...(unipile ? { unipile } : {}),
    ...(whatsapp ? { whatsapp: { phoneNumberIds: [whatsapp] } } : {}),
  };
}

describe('tenantChannels: the channels a tenant’s Unipile accounts give', () => {
  it('maps each declared account type to its reply channel, the first account of a type sending', () => {
    const channels = tenantChannels(
      tenant(
        {
          accountIds: ['li1', 'li2', 'ig', 'tg', 'gm', 'ms', 'wa'],
          dsn: 'api8.unipile.com:13851',
          accountTypes: {
            li1: 'LINKEDIN',
            li2: 'LINKEDIN',
            ig: 'INSTAGRAM',
            tg: 'TELEGRAM',
            gm: 'GOOGLE',
            ms: 'MESSENGER',
            wa: 'WHATSAPP',
          },
        },
        '123456',
      ),
    );
    expect(channels).toEqual({
      whatsapp: '123456',
      linkedin: 'li1',
      instagram: 'ig',
      telegram: 'tg',
      email: 'gm',
    });
  });

  it('an account without a declared type gives no channel', () => {
    expect(tenantChannels(tenant({ accountIds: ['a'], dsn: 'api8.unipile.com:1' }))).toEqual({});
  });
});

describe('the tenant-given DSN passes the SSRF guard before any call', () => {
  it.each([
    ['10.0.0.5', 'private'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'linkLocal'],
    ['::ffff:192.168.1.1', 'private'],
  ])('a DSN resolving to %s is refused (%s)', async (address, range) => {
    await expect(
      checkedUnipileBaseUrl('api8.unipile.com:13851', resolverAnswering(address), noOverride),
    ).rejects.toThrow(new RegExp(`${range} address`));
  });

  it('a DSN resolving to a public address is https://<dsn>', async () => {
    expect(
      await checkedUnipileBaseUrl(
        'api8.unipile.com:13851',
        resolverAnswering('51.15.1.1'),
        noOverride,
      ),
    ).toBe('https://api8.unipile.com:13851');
  });

  it('an operator-configured base is not tenant-given and is used as is', async () => {
    expect(
      await checkedUnipileBaseUrl('api8.unipile.com:1', resolverAnswering('10.0.0.5'), {
        UNIPILE_API_BASE_URL: 'https://unipile.internal/',
      }),
    ).toBe('https://unipile.internal');
  });

  const send: ReplySend = {
    tenantId: 't-1',
    messageId: 'r_0123456789abcdef0123456789abcdef',
    channel: 'linkedin',
    to: 'chat1',
    from: 'acct1',
    body: 'hi',
  };

  it('a refused DSN or a missing key is a permanent rejection, and nothing is sent', async () => {
    let calls = 0;
    const counting: typeof fetch = async () => {
      calls += 1;
      return new Response('{}', { status: 201 });
    };
    const refused = createUnipileChannel('linkedin', {
      baseUrl: () => checkedUnipileBaseUrl('x.example.com', resolverAnswering('10.1.2.3'), {}),
      apiKey: async () => 'k',
      fetch: counting,
    });
    expect(await refused.send(send)).toMatchObject({
      kind: 'rejected',
      retry: false,
      code: 'unipile_not_configured',
    });
    const keyless = createUnipileChannel('email', {
      baseUrl: () => 'https://api8.unipile.com:1',
      apiKey: async () => {
        throw new UnipileNotConfiguredError('the tenant has set no Unipile API key');
      },
      fetch: counting,
    });
    expect(await keyless.send({ ...send, channel: 'email', to: 'a@example.com' })).toMatchObject({
      kind: 'rejected',
      retry: false,
      code: 'unipile_not_configured',
    });
    expect(await keyless.findSent?.({ ...send, channel: 'email' })).toEqual({
      kind: 'unavailable',
    });
    expect(calls).toBe(0);
  });
});
