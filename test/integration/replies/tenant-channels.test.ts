/**
 * Which channels a tenant can answer on, and the per-tenant credentials the WhatsApp Web and SMS
 * channels send with (issue 23 item 3; api.md "Replies": `channel_unavailable`, credentials per
 * tenant), through the real handlers and DynamoDB Local:
 *
 * - `PUT /v1/tenants/{id}/providers/{provider}` stores them sealed (the key is never in the item in
 *   clear), refuses a base URL the SSRF guard refuses and any malformed body with a 400 that writes
 *   nothing;
 * - `tenantChannels` names the tenant's Evolution instance and GHL location, and a tenant without
 *   them gets 422 `channel_unavailable`;
 * - `replyChannels()` looks the tenant's credentials up per send, cached on the clock seam: a
 *   rotation is used once the cache's five minutes are over.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddb } from '../../../functions/kernel/clients.js';
import { advanceSystemClock, systemClockOffset } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { readItem } from '../../../functions/kernel/read-item.js';
import type { ReplySend } from '../../../functions/replies/channel.js';
import { replyChannels, tenantChannels } from '../../../functions/replies/deps.js';
import { replyIdFor } from '../../../functions/replies/items.js';
import { createReply } from '../../../functions/replies/reply-store.js';
import type { Tenant } from '../../../functions/tenants/index.js';
import { keys } from '../../../functions/tenants/items.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { testTenant } from '../../support/test-tenant.js';
import { invoke } from '../conversations/inbound-support.js';
import { replyWorld } from './replies-support.js';

const putProvider = (
  await import('../../../functions/tenants/handlers/put-provider-credentials.js')
).handler;
const ADMIN = process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key';

function put(tenantId: string, provider: string, body: unknown, token = ADMIN) {
  return invoke(putProvider, {
    method: 'PUT',
    routeKey: 'PUT /v1/tenants/{tenantId}/providers/{provider}',
    path: `/v1/tenants/${tenantId}/providers/${provider}`,
    pathParameters: { tenantId, provider },
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const stored = (tenantId: string, provider: string) =>
  readItem(ddb, tableName('tenants'), keys.providerCredential(tenantId, provider));

/** An Evolution server that records the `apikey` of every sendText. */
let evolution: Server;
let evolutionUrl = '';
const apikeys: string[] = [];
let wasLocal: string | undefined;

beforeAll(async () => {
  // The local runtime's policy: plain http to a loopback address (this server) is allowed.
  wasLocal = process.env.ONCEFLOW_LOCAL;
  process.env.ONCEFLOW_LOCAL = '1';
  evolution = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      apikeys.push(String(req.headers.apikey));
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          key: {
            remoteJid: '972501234567@s.whatsapp.net',
            fromMe: true,
            id: `3EB0${randomUUID()}`,
          },
          message: { conversation: 'hi' },
          messageTimestamp: 1,
          status: 'PENDING',
        }),
      );
    });
  });
  evolutionUrl = `http://127.0.0.1:${await listen(evolution, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  if (wasLocal === undefined) delete process.env.ONCEFLOW_LOCAL;
  else process.env.ONCEFLOW_LOCAL = wasLocal;
  await closeServer(evolution);
});

describe('a tenant’s provider credentials', () => {
  it('are stored sealed: 204, and the key is nowhere in the item in clear', async () => {
    const { tenantId } = await testTenant();
    const apiKey = `evo-${randomUUID()}`;
    const answer = await put(tenantId, 'evolution', { baseUrl: 'https://93.184.215.14', apiKey });
    expect(answer.status).toBe(204);
    const item = await stored(tenantId, 'evolution');
    expect(item).toBeDefined();
    expect(JSON.stringify(item)).not.toContain(apiKey);
    expect((await put(tenantId, 'ghl', { token: 'pit-1' })).status).toBe(204);
  });

  it('refuse an internal base URL, a malformed body, an unknown provider or no admin key, writing nothing', async () => {
    const { tenantId } = await testTenant();
    for (const baseUrl of ['http://169.254.169.254', 'https://10.0.0.5', 'https://192.168.1.10']) {
      const answer = await put(tenantId, 'evolution', { baseUrl, apiKey: 'k' });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ error: { code: 'invalid_request' } });
    }
    expect((await put(tenantId, 'evolution', { baseUrl: 'https://93.184.215.14' })).status).toBe(
      400,
    );
    expect((await put(tenantId, 'ghl', { token: 't', extra: 1 })).status).toBe(400);
    expect(await stored(tenantId, 'evolution')).toBeUndefined();
    expect(await stored(tenantId, 'ghl')).toBeUndefined();
    expect((await put(tenantId, 'twilio', { token: 't' })).status).toBe(404);
    expect((await put(tenantId, 'ghl', { token: 't' }, 'not-the-admin')).status).toBe(401);
  });
});

describe('the channels a tenant has', () => {
  it('are its Evolution instance and GHL location; without them a reply there is 422 channel_unavailable', async () => {
    const world = await replyWorld();
    const tenant = { tenantId: world.tenant.tenantId } as Tenant;
    const withAll = tenantChannels({
      ...tenant,
      whatsapp: { phoneNumberIds: [world.tenant.phoneNumberId] },
      whatsappWeb: { instances: [world.tenant.instance] },
      ghl: { locationIds: [world.tenant.locationId] },
    } as Tenant);
    expect(withAll).toEqual({
      whatsapp: world.tenant.phoneNumberId,
      whatsapp_web: world.tenant.instance,
      sms: world.tenant.locationId,
    });
    const cloudOnly = tenantChannels({
      ...tenant,
      whatsapp: { phoneNumberIds: [world.tenant.phoneNumberId] },
    } as Tenant);
    for (const channel of ['sms', 'whatsapp_web'] as const) {
      await expect(
        createReply(world.replies, {
          tenantId: world.tenant.tenantId,
          conversationId: world.conversationId,
          messageId: replyIdFor(world.tenant.tenantId, randomUUID()),
          request: { body: 'hi', channel },
          channels: cloudOnly,
        }),
      ).rejects.toMatchObject({ status: 422, code: 'channel_unavailable' });
    }
  });

  it('send with the tenant’s own credentials, looked up per send and cached for five minutes on the clock seam', async () => {
    const { tenantId } = await testTenant();
    const other = await testTenant();
    const send: ReplySend = {
      tenantId,
      messageId: `r_${randomUUID()}`,
      channel: 'whatsapp_web',
      to: '+972501234567',
      from: 'inst',
      body: 'hi',
    };
    const channel = replyChannels().whatsapp_web;
    if (!channel) throw new Error('no whatsapp_web channel');
    expect(await channel.send(send)).toMatchObject({ kind: 'rejected', code: 'no_credentials' });
    await put(tenantId, 'evolution', { baseUrl: evolutionUrl, apiKey: 'first-key' });
    await put(other.tenantId, 'evolution', { baseUrl: evolutionUrl, apiKey: 'other-key' });
    expect(await channel.send(send)).toMatchObject({ kind: 'accepted' });
    expect(await channel.send({ ...send, tenantId: other.tenantId })).toMatchObject({
      kind: 'accepted',
    });
    await put(tenantId, 'evolution', { baseUrl: evolutionUrl, apiKey: 'rotated-key' });
    expect(await channel.send(send)).toMatchObject({ kind: 'accepted' });
    const offset = systemClockOffset();
    advanceSystemClock(300_001);
    try {
      expect(await channel.send(send)).toMatchObject({ kind: 'accepted' });
    } finally {
      advanceSystemClock(offset - systemClockOffset());
    }
    expect(apikeys.slice(-4)).toEqual(['first-key', 'other-key', 'first-key', 'rotated-key']);
  });
});
