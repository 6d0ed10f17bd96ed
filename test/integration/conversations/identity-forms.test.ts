/**
 * Every identity form WhatsApp and the gateways really send resolves to one person (issue 20.4 and
 * 20.5), through the real webhook handlers against DynamoDB Local: Mexico's `521…`, Argentina's
 * `549…`, Brazil with and without the ninth digit (raced), numbers libphonenumber cannot read
 * (stored under their raw id, linked when a readable form appears), BSUIDs up to 128 characters,
 * Baileys 6.7 and 7 key fields, Evolution's rewritten keys, "webhook by events" paths, free-text
 * instance names and pushNames that are only id digits. And the webhook token is checked before
 * the claimed location or instance is looked up (issue 26.11).
 */
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundDeps, storeMessage } from '../../../functions/conversations/index.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { tenantConfigSchema } from '../../../functions/tenants/tenant-config.js';
import { handler as ghl } from '../../../functions/webhooks/handlers/receive-ghl-sms.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { handler as web } from '../../../functions/webhooks/handlers/receive-whatsapp-web.js';
import { testSqsClient } from '../../support/emulators.js';
import { raceTrials } from '../../support/race.js';
import { testTenantStore } from '../../support/tenant-store.js';
import {
  cloudCall,
  cloudText,
  createTenant,
  ghlPayload,
  invoke,
  leadCall,
  listedConversations,
  privateJobsQueue,
  sendCloud,
  type TestTenant,
  threadOf,
  tokenCall,
  webPayload,
} from './inbound-support.js';

let sqs: SQSClient;

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
});

afterAll(() => sqs.destroy());

interface Listed {
  conversationId: string;
  messageCount: number;
  conversationKey: string;
  displayName: string;
  displayPhone?: string;
}

async function listed(t: TestTenant): Promise<Listed[]> {
  return (await listedConversations(t)) as unknown as Listed[];
}

/** Exactly one listed conversation holding exactly `bodies`. */
async function expectOnePerson(t: TestTenant, bodies: readonly string[]): Promise<Listed> {
  const conversations = await listed(t);
  expect(conversations.map((c) => c.messageCount)).toEqual([bodies.length]);
  const only = conversations[0] as Listed;
  expect((await threadOf(t, only.conversationId)).sort()).toEqual([...bodies].sort());
  return only;
}

/** A Cloud delivery whose sender is exactly what `from` / `userId` say (either may be absent). */
async function sendCloudAs(
  t: TestTenant,
  opts: { from?: string; userId?: string; body: string },
): Promise<{ status: number; json: Record<string, number> }> {
  const raw = cloudText(t, {
    wamid: `wamid.${randomUUID()}`,
    from: opts.from ?? '',
    body: opts.body,
    ...(opts.userId ? { userId: opts.userId } : {}),
  });
  return invoke(whatsapp, cloudCall(raw));
}

/** One Evolution `messages.upsert` with this key (and pushName), through the real handler. */
async function sendUpsert(
  t: TestTenant,
  key: Record<string, unknown>,
  text: string,
  opts: { pushName?: string; path?: string; sender?: string } = {},
) {
  const payload = webPayload(t, key, text, opts.pushName ?? 'Dana') as Record<string, unknown>;
  if (opts.pushName === '') delete (payload.data as Record<string, unknown>).pushName;
  if (opts.sender) payload.sender = opts.sender;
  const call = tokenCall('/webhooks/whatsapp-web', JSON.stringify(payload), t.webhookToken);
  const path = opts.path;
  return invoke(
    web,
    path
      ? {
          ...call,
          routeKey: 'POST /webhooks/whatsapp-web/{event}',
          path: `/webhooks/whatsapp-web/${path}`,
          pathParameters: { event: path },
        }
      : call,
  );
}

const id = () => randomUUID().replace(/-/g, '').slice(0, 20).toUpperCase();

describe('phone forms WhatsApp sends (issue 20.4)', () => {
  it("a Mexican mobile's 521 id is stored (never invalid) in the same conversation as its 10-digit number", async () => {
    const t = await createTenant('MX');
    const first = await sendCloudAs(t, { from: '5215512345678', body: 'hola' });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ received: 1, stored: 1, invalid: 0 });
    const second = await sendCloud(t, '525512345678', 'otra vez');
    expect(second.json).toMatchObject({ stored: 1 });
    expect(await leadCall(t, 'lead-mx', { name: 'Ana', phones: ['55 1234 5678'] })).toMatchObject({
      status: 200,
    });
    const only = await expectOnePerson(t, ['hola', 'otra vez']);
    expect(only.displayPhone ?? only.conversationKey).toContain('+52');
  });

  it("an Argentine 549 id and the lead's national 15-form are one person", async () => {
    const t = await createTenant('AR');
    expect(
      (await leadCall(t, 'lead-ar', { name: 'Juan', phones: ['011 15-2345-6789'] })).status,
    ).toBe(200);
    await sendUpsert(t, { remoteJid: '5491123456789@s.whatsapp.net', id: id() }, 'buenas');
    await sendCloud(t, '5491123456789', 'che');
    const only = await expectOnePerson(t, ['buenas', 'che']);
    expect(only.conversationKey).toBe(`lead:${t.tenantId}:lead-ar`);
  });

  it('a Brazilian mobile with and without its ninth digit is one person, whichever arrives first (raced)', async () => {
    let n = 1_000_000 + Math.floor(Math.random() * 8_000_000);
    await raceTrials({
      trials: 8,
      maxStaggerMs: 15,
      setup: async () => {
        const t = await createTenant('BR');
        const subscriber = String(80_000_000 + (n++ % 19_999_999)); // 8 digits starting 8-9
        return { t, eight: `5531${subscriber}`, nine: `55319${subscriber}` };
      },
      contenders: ({ t, eight, nine }) => [
        () => sendCloud(t, eight, 'sem nove'),
        () => sendCloud(t, nine, 'com nove'),
        () => sendUpsert(t, { remoteJid: `${eight}@s.whatsapp.net`, id: id() }, 'pelo web'),
      ],
      check: async ({ t, nine }, outcomes) => {
        for (const o of outcomes) {
          expect(o.status).toBe('fulfilled');
          expect((o as PromiseFulfilledResult<{ status: number }>).value.status).toBe(200);
        }
        const only = await expectOnePerson(t, ['sem nove', 'com nove', 'pelo web']);
        expect(only.conversationKey).toBe(`phone:${t.tenantId}:+${nine}`);
      },
    });
  });

  it('a number libphonenumber cannot read is stored under its raw id, never acknowledged invalid', async () => {
    const t = await createTenant();
    const answer = await sendCloudAs(t, { from: '99912345678', body: 'from an unknown range' });
    expect(answer.json).toMatchObject({ received: 1, stored: 1, invalid: 0 });
    const again = await sendUpsert(
      t,
      { remoteJid: '99912345678@s.whatsapp.net', id: id() },
      'and from the web',
    );
    expect(again.json).toMatchObject({ stored: 1, invalid: 0 });
    const only = await expectOnePerson(t, ['from an unknown range', 'and from the web']);
    expect(only.conversationKey).toBe(`alias:${t.tenantId}:pn:99912345678`);
    expect(only.displayName).not.toMatch(/\d{6}/);
  });

  it('a raw id is linked when a readable form of the person appears (beside a BSUID)', async () => {
    const t = await createTenant();
    const bsuid = `US.${id()}`;
    await sendCloudAs(t, { from: '99912345678', userId: bsuid, body: 'raw and bsuid' });
    await sendCloudAs(t, { from: '972501234567', userId: bsuid, body: 'phone and bsuid' });
    const only = await expectOnePerson(t, ['raw and bsuid', 'phone and bsuid']);
    expect(only.conversationKey).toBe(`phone:${t.tenantId}:+972501234567`);
    // The raw id itself now routes to the phone.
    await sendCloudAs(t, { from: '99912345678', userId: bsuid, body: 'raw again' });
    await expectOnePerson(t, ['raw and bsuid', 'phone and bsuid', 'raw again']);
  });

  it("messages an earlier release kept under a number's raw id fold into it when the number first parses", async () => {
    const t = await createTenant();
    // What a release whose libphonenumber could not read +972 50 765 4321 stored.
    await storeMessage(inboundDeps(), {
      tenantId: t.tenantId,
      channel: 'whatsapp',
      direction: 'in',
      dedupeKey: `wamid:wamid.${randomUUID()}`,
      body: 'kept under the raw id',
      createdAt: new Date(systemClock.now()).toISOString(),
      person: { aliases: ['pn:972507654321'] },
    });
    await sendCloud(t, '972507654321', 'now readable');
    const only = await expectOnePerson(t, ['kept under the raw id', 'now readable']);
    expect(only.conversationKey).toBe(`phone:${t.tenantId}:+972507654321`);
  });

  it('a BSUID of the country code + 128 characters is a person, and links to the phone later shown', async () => {
    const t = await createTenant();
    const bsuid = `BR.${'x7Q'.repeat(42)}ab`;
    expect(bsuid.length).toBe(131);
    const first = await sendCloudAs(t, { userId: bsuid, body: 'username only' });
    expect(first.json).toMatchObject({ stored: 1, invalid: 0 });
    await sendCloudAs(t, { from: '972501112233', userId: bsuid, body: 'with phone' });
    const parent = await sendCloudAs(t, { userId: 'US.ENT.11815799212886844830', body: 'parent' });
    expect(parent.json).toMatchObject({ stored: 1, invalid: 0 });
    const conversations = await listed(t);
    expect(conversations.map((c) => c.messageCount).sort()).toEqual([1, 2]);
  });
});

describe('Baileys and Evolution identity fields (issue 20.4, 20.5)', () => {
  it('Baileys 6.7 senderPn links an @lid chat to the phone: one person', async () => {
    const t = await createTenant();
    const lid = `${Date.now()}${Math.floor(Math.random() * 100)}@lid`;
    await sendUpsert(t, { remoteJid: lid, senderPn: '972502223344@s.whatsapp.net', id: id() }, 'a');
    await sendUpsert(t, { remoteJid: lid, id: id() }, 'b');
    await sendCloud(t, '972502223344', 'c');
    const only = await expectOnePerson(t, ['a', 'b', 'c']);
    expect(only.conversationKey).toBe(`phone:${t.tenantId}:+972502223344`);
  });

  it('Baileys 6.7 senderLid on a phone chat, then the @lid alone: one person', async () => {
    const t = await createTenant();
    const lid = `${Date.now()}7@lid`;
    await sendUpsert(
      t,
      { remoteJid: '972502223355@s.whatsapp.net', senderLid: lid, id: id() },
      'phone',
    );
    await sendUpsert(t, { remoteJid: lid, id: id() }, 'lid only');
    await expectOnePerson(t, ['phone', 'lid only']);
  });

  it('Baileys 6.7 participantPn and Baileys 7 participantAlt link a group member: one person', async () => {
    const t = await createTenant();
    const lid = `${Date.now()}3@lid`;
    const group = `1203630${Date.now()}@g.us`;
    await sendUpsert(
      t,
      {
        remoteJid: group,
        participant: lid,
        participantPn: '972502223366@s.whatsapp.net',
        id: id(),
      },
      'group 6.7',
    );
    await sendUpsert(
      t,
      {
        remoteJid: group,
        participant: lid,
        participantAlt: '972502223366@s.whatsapp.net',
        id: id(),
      },
      'group 7',
    );
    await sendUpsert(t, { remoteJid: lid, id: id() }, 'direct');
    await expectOnePerson(t, ['group 6.7', 'group 7', 'direct']);
  });

  it("Evolution 2.3's rewritten key (previousRemoteJid) links the @lid it replaced", async () => {
    const t = await createTenant();
    const lid = `${Date.now()}9@lid`;
    await sendUpsert(
      t,
      { remoteJid: '972502223377@s.whatsapp.net', previousRemoteJid: lid, id: id() },
      'rewritten',
    );
    await sendUpsert(t, { remoteJid: lid, id: id() }, 'not rewritten');
    await expectOnePerson(t, ['rewritten', 'not rewritten']);
  });

  it("the business's own message never links the person to the business's number", async () => {
    const t = await createTenant();
    const own = '972509990000@s.whatsapp.net';
    const lid = `${Date.now()}1@lid`;
    await sendUpsert(t, { remoteJid: lid, fromMe: true, senderPn: own, id: id() }, 'our reply', {
      sender: own,
    });
    await sendUpsert(t, { remoteJid: '972509990000@s.whatsapp.net', id: id() }, 'own number');
    const conversations = await listed(t);
    expect(conversations).toHaveLength(2);
  });

  it('a pushName that is only @lid digits never becomes the name', async () => {
    const t = await createTenant();
    const digits = `${Date.now()}42`;
    await sendUpsert(
      t,
      { remoteJid: `1203631${Date.now()}@g.us`, participant: `${digits}@lid`, id: id() },
      'no name',
      { pushName: digits },
    );
    const [only] = await listed(t);
    expect(only?.displayName).toBe('WhatsApp user');
  });
});

describe('Evolution as deployed (issue 20.5)', () => {
  it('"webhook by events" paths are served: messages-upsert stores, messages-update is acknowledged', async () => {
    const t = await createTenant();
    const stored = await sendUpsert(
      t,
      { remoteJid: '972502223388@s.whatsapp.net', id: id() },
      'by events',
      { path: 'messages-upsert' },
    );
    expect(stored.status).toBe(200);
    expect(stored.json).toMatchObject({ stored: 1 });
    const update = await invoke(web, {
      ...tokenCall(
        '/webhooks/whatsapp-web',
        JSON.stringify({
          event: 'messages.update',
          instance: t.instance,
          data: { keyId: id(), remoteJid: '972502223388@s.whatsapp.net', status: 'READ' },
        }),
        t.webhookToken,
      ),
      routeKey: 'POST /webhooks/whatsapp-web/{event}',
      path: '/webhooks/whatsapp-web/messages-update',
      pathParameters: { event: 'messages-update' },
    });
    expect(update.status).toBe(200);
    expect(update.json).toEqual({ ignored: true });
    for (const path of ['send-message', 'group-participants-update', 'messaging-history-set']) {
      const answer = await sendUpsert(
        t,
        { remoteJid: '972502223388@s.whatsapp.net', id: id() },
        path,
        { path },
      );
      expect(answer.status, path).toBe(200);
    }
    const unknown = await sendUpsert(
      t,
      { remoteJid: '972502223388@s.whatsapp.net', id: id() },
      'x',
      {
        path: 'not-an-event',
      },
    );
    expect(unknown.status).toBe(404);
  });

  it('an instance named as Evolution allows (spaces, accents, symbols) is configured and served', async () => {
    const t = await createTenant();
    const instance = `Loja Centro #2 — São Paulo (${randomUUID().slice(0, 6)})`;
    await testTenantStore(systemClock).putConfig(
      t.tenantId,
      tenantConfigSchema.parse({
        name: 'Instance names',
        defaultCountry: 'IL',
        whatsapp: { phoneNumberIds: [t.phoneNumberId] },
        ghl: { locationIds: [t.locationId] },
        whatsappWeb: { instances: [t.instance, instance] },
      }),
    );
    const answer = await sendUpsert(
      { ...t, instance },
      { remoteJid: '972502223399@s.whatsapp.net', id: id() },
      'from a named instance',
    );
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ stored: 1 });
    expect(() =>
      tenantConfigSchema.parse({
        name: 'x',
        defaultCountry: 'IL',
        whatsappWeb: { instances: ['bad\u0007name'] },
      }),
    ).toThrow();
  });
});

describe('webhook auth never tells which claims exist (issue 26.11)', () => {
  it('an unknown location and a known one with a wrong token get the same 401', async () => {
    const t = await createTenant();
    const other = await createTenant();
    const unknownLocation = await invoke(
      ghl,
      tokenCall(
        '/webhooks/ghl/sms',
        JSON.stringify({ ...ghlPayload(t), location: { id: `loc-nobody-${id()}` } }),
        'of_wh_not-a-token',
      ),
    );
    const knownWrongToken = await invoke(
      ghl,
      tokenCall('/webhooks/ghl/sms', JSON.stringify(ghlPayload(t)), 'of_wh_not-a-token'),
    );
    const unknownWithValidToken = await invoke(
      ghl,
      tokenCall(
        '/webhooks/ghl/sms',
        JSON.stringify({ ...ghlPayload(t), location: { id: `loc-nobody-${id()}` } }),
        t.webhookToken,
      ),
    );
    const otherTenantsToken = await invoke(
      ghl,
      tokenCall('/webhooks/ghl/sms', JSON.stringify(ghlPayload(t)), other.webhookToken),
    );
    for (const answer of [
      unknownLocation,
      knownWrongToken,
      unknownWithValidToken,
      otherTenantsToken,
    ]) {
      expect(answer.status).toBe(401);
      expect(answer.json).toEqual(knownWrongToken.json);
    }
  });

  it('an unknown instance and a known one with a wrong token get the same 401', async () => {
    const t = await createTenant();
    const body = (instance: string) =>
      JSON.stringify({
        ...webPayload({ instance }, { remoteJid: '972501234567@s.whatsapp.net', id: id() }),
      });
    const unknown = await invoke(
      web,
      tokenCall('/webhooks/whatsapp-web', body(`nobody-${id()}`), 'of_wh_wrong'),
    );
    const known = await invoke(
      web,
      tokenCall('/webhooks/whatsapp-web', body(t.instance), 'of_wh_wrong'),
    );
    expect(unknown.status).toBe(401);
    expect(known.status).toBe(401);
    expect(unknown.json).toEqual(known.json);
  });
});
