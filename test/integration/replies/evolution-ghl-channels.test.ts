/**
 * The WhatsApp Web (Evolution API) and SMS (GoHighLevel) reply channels against their simulators,
 * the Evolution echo reaching the real `POST /webhooks/whatsapp-web` handler over HTTP, on
 * DynamoDB Local and the SQS emulator (issue 23 items 3-4):
 *
 * - requests are the providers' own: Evolution's `textMessageSchema` and GHL's
 *   `SendMessageBodyDto` (with each operation's `Version` header), answers their documented shapes;
 * - a reply is sent once and filed once: the instance's `fromMe` upsert of it only moves the reply,
 *   whether it arrives before the sender's record write, after it, or racing it;
 * - a lost answer is `unknown`, never resent blind: the reconcile reads the provider's own record
 *   (Evolution `findMessages`, GHL's conversation messages), records the id found, and the echo
 *   filed meanwhile is adopted, so the thread shows the reply once.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbConversationStore } from '../../../functions/conversations/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import type { ReplyChannel, ReplySend } from '../../../functions/replies/channel.js';
import { createEvolutionChannel } from '../../../functions/replies/channels/evolution.js';
import {
  createGhlChannel,
  GHL_CONTACTS_VERSION,
  GHL_CONVERSATIONS_VERSION,
} from '../../../functions/replies/channels/ghl.js';
import { replyIdFor } from '../../../functions/replies/items.js';
import { reconcileReplies } from '../../../functions/replies/reconcile.js';
import { createReply } from '../../../functions/replies/reply-store.js';
import { sendReply } from '../../../functions/replies/sender.js';
import { messageKeys } from '../../../functions/webhooks/index.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { evolutionSimulator } from '../../../lib/local/sim/evolution.js';
import { ghlSimulator } from '../../../lib/local/sim/ghl.js';
import { createSimulatorServer, type SimulatorServer } from '../../../lib/local/simulators.js';
import { testSqsClient } from '../../support/emulators.js';
import {
  findMessagesAnswer,
  sendTextAnswer,
  textMessageBody,
  upsertWebhook,
} from '../../support/evolution-api.js';
import {
  messagesByConversation,
  sendMessageAnswer,
  sendMessageBody,
} from '../../support/ghl-api.js';
import { pollUntil } from '../../support/poll.js';
import { raceTrials } from '../../support/race.js';
import { invoke, privateJobsQueue, tokenCall } from '../conversations/inbound-support.js';
import { storedMessage } from '../webhooks/unipile-support.js';
import {
  type ReplyWorld,
  reconcileDeps,
  replyOf,
  replyWorld,
  senderDeps,
} from './replies-support.js';

let sqs: SQSClient;
let api: Server;
let apiUrl = '';
let sim: SimulatorServer;
let simUrl = '';

/** Echo deliveries the API holds until a test releases them (to order echo against answer). */
let holdEchoes = false;
const held: Array<{ body: string; release: () => Promise<void> }> = [];
/** Every request the providers were sent, as the channel sent it. */
const requests: Array<{ url: string; method: string; headers: Headers; body?: string }> = [];

const recordingFetch: typeof fetch = async (input, init) => {
  requests.push({
    url: String(input),
    method: init?.method ?? 'GET',
    headers: new Headers(init?.headers),
    ...(typeof init?.body === 'string' ? { body: init.body } : {}),
  });
  return fetch(input, init);
};

async function handleEcho(path: string, headers: Record<string, string>, body: string) {
  const { handler } = await import('../../../functions/webhooks/handlers/receive-whatsapp-web.js');
  return invoke(handler, { ...tokenCall('/webhooks/whatsapp-web', body), path, headers });
}

/** The real WhatsApp Web webhook handler behind a local port, as the deployed route serves it. */
async function startApi(): Promise<void> {
  api = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://local');
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, String(v ?? '')]),
      );
      const run = async () => {
        const answer = await handleEcho(url.pathname, headers, body);
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text);
      };
      if (holdEchoes) held.push({ body, release: run });
      else await run();
    });
  });
  apiUrl = `http://127.0.0.1:${await listen(api, 0, '127.0.0.1')}`;
}

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
  await startApi();
  const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-evo-ghl-'));
  sim = createSimulatorServer({
    context: {
      apiBaseUrl: apiUrl,
      simBaseUrl: '',
      env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? dataDir : process.env[name]),
      log: () => {},
    },
    factories: [evolutionSimulator, ghlSimulator],
  });
  simUrl = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  await sim.closeModules();
  await closeServer(sim.server);
  await closeServer(api);
  sqs.destroy();
});

async function setFaults(provider: 'evolution' | 'ghl', faults: Record<string, number> | null) {
  await fetch(`${simUrl}/_sim/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ [provider]: faults }),
  });
}

const evolution = createEvolutionChannel({
  credentials: async () => ({ baseUrl: simUrl, apiKey: 'instance-key' }),
  // The simulator listens on loopback; the guard's own rules are unit-tested in `test/unit/kernel`.
  guard: async () => {},
  fetch: recordingFetch,
});
const ghl = createGhlChannel({
  baseUrl: '',
  token: async () => 'location-token',
  fetch: (input, init) => recordingFetch(`${simUrl}${String(input)}`, init),
});

/** A world whose tenant's Evolution instance posts its webhooks to the local handler. */
async function evolutionWorld(): Promise<ReplyWorld> {
  const world = await replyWorld();
  const set = await fetch(`${simUrl}/webhook/set/${encodeURIComponent(world.tenant.instance)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', apikey: 'instance-key' },
    body: JSON.stringify({
      webhook: {
        enabled: true,
        url: `${apiUrl}/webhooks/whatsapp-web`,
        headers: { 'X-Webhook-Token': world.tenant.webhookToken },
        byEvents: false,
        events: ['MESSAGES_UPSERT'],
      },
    }),
  });
  expect(set.status).toBe(201);
  return world;
}

async function newReply(
  world: ReplyWorld,
  channel: 'whatsapp_web' | 'sms',
  body = `See you at ${randomUUID().slice(0, 6)}`,
) {
  const from = channel === 'sms' ? world.tenant.locationId : world.tenant.instance;
  const created = await createReply(world.replies, {
    tenantId: world.tenant.tenantId,
    conversationId: world.conversationId,
    messageId: replyIdFor(world.tenant.tenantId, randomUUID()),
    request: { body, channel },
    channels: { [channel]: from },
  });
  return { messageId: created.messageId, body };
}

async function outs(world: ReplyWorld) {
  const store = new DynamoDbConversationStore(ddb, tableName('inbound'));
  const listed = await store.listMessages(world.conversationId, { limit: 200 });
  return listed.messages.filter((m) => m.direction === 'out');
}

async function evolutionSends(world: ReplyWorld) {
  const out = (await (await fetch(`${simUrl}/_sim/evolution/messages`)).json()) as {
    messages: Array<{ instance: string; id: string; text: string; body: unknown }>;
  };
  return out.messages.filter((m) => m.instance === world.tenant.instance);
}

async function ghlSends(world: ReplyWorld) {
  const out = (await (await fetch(`${simUrl}/_sim/ghl/messages`)).json()) as {
    messages: Array<{ locationId: string; messageId: string; body: string; request: unknown }>;
  };
  return out.messages.filter((m) => m.locationId === world.tenant.locationId);
}

/** The echo of `providerMessageId`, filed (or claimed as the reply's alias). */
function echoFiled(world: ReplyWorld, providerMessageId: string) {
  return pollUntil(async () => {
    const item = await storedMessage(world.tenant.tenantId, messageKeys.web(providerMessageId));
    return item?.conversationId ? item : undefined;
  });
}

const send = (world: ReplyWorld, channel: ReplyChannel, messageId: string) =>
  sendReply(senderDeps(world, channel), { tenantId: world.tenant.tenantId, messageId });

describe('WhatsApp Web replies through the tenant’s Evolution instance', () => {
  it('are sent with Evolution’s sendText body and apikey, accepted with key.id, and the fromMe upsert only moves the reply', async () => {
    const world = await evolutionWorld();
    const { messageId, body } = await newReply(world, 'whatsapp_web');
    requests.length = 0;
    expect(await send(world, evolution, messageId)).toBe('sent');

    const call = requests.find((r) => r.url.includes('/message/sendText/'));
    expect(call?.url).toBe(
      `${simUrl}/message/sendText/${encodeURIComponent(world.tenant.instance)}`,
    );
    expect(call?.headers.get('apikey')).toBe('instance-key');
    const request = textMessageBody.parse(JSON.parse(call?.body ?? '{}'));
    expect(request).toEqual({ number: world.phone.slice(1), text: body });

    const [accepted] = await evolutionSends(world);
    expect(accepted).toBeDefined();
    const reply = await replyOf(messageId);
    expect(reply).toMatchObject({ status: 'sent', providerMessageId: accepted?.id });
    // The echo arrives through the real webhook handler, and files nothing of its own.
    await pollUntil(async () => held.length === 0 && (await echoFiled(world, accepted?.id ?? '')));
    await pollUntil(async () => {
      const stats = (await (await fetch(`${simUrl}/_sim/evolution/messages`)).json()) as {
        deliveries: { received: number };
      };
      return stats.deliveries.received > 0 ? true : undefined;
    });
    expect((await outs(world)).map((m) => m.messageId)).toEqual([messageId]);
  });

  it('the simulator answers in Evolution’s shapes (sendText, findMessages, the upsert webhook)', async () => {
    const world = await evolutionWorld();
    const instance = encodeURIComponent(world.tenant.instance);
    const headers = { 'content-type': 'application/json', apikey: 'k' };
    const sent = await fetch(`${simUrl}/message/sendText/${instance}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ number: world.phone.slice(1), text: 'shape check' }),
    });
    expect(sent.status).toBe(201);
    const answer = sendTextAnswer.parse(await sent.json());
    expect(answer.key.fromMe).toBe(true);
    const found = await fetch(`${simUrl}/chat/findMessages/${instance}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ where: { key: { remoteJid: answer.key.remoteJid, fromMe: true } } }),
    });
    const listed = findMessagesAnswer.parse(await found.json());
    expect(listed.messages.records.map((r) => r.key.id)).toEqual([answer.key.id]);
    const unauthorized = await fetch(`${simUrl}/message/sendText/${instance}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ number: '1', text: 'x' }),
    });
    expect(unauthorized.status).toBe(401);
    holdEchoes = true;
    try {
      await fetch(`${simUrl}/message/sendText/${instance}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ number: world.phone.slice(1), text: 'held' }),
      });
      const echo = await pollUntil(async () => held.find((h) => h.body.includes('"held"')));
      expect(upsertWebhook.parse(JSON.parse(echo.body)).data.key.fromMe).toBe(true);
    } finally {
      holdEchoes = false;
      for (const h of held.splice(0)) await h.release();
    }
  });

  it('echo and the send’s record write in either order, or together: one message, status sent', async () => {
    const report = await raceTrials({
      trials: 8,
      maxStaggerMs: 20,
      setup: async () => {
        const world = await evolutionWorld();
        const reply = await newReply(world, 'whatsapp_web');
        holdEchoes = true;
        return { world, ...reply };
      },
      contenders: ({ world, messageId }) => [
        () => send(world, evolution, messageId),
        // The held echo, handled as soon as the instance posted it.
        async () => {
          const echo = await pollUntil(async () =>
            held.find((h) => h.body.includes(world.tenant.instance)),
          );
          held.splice(held.indexOf(echo), 1);
          await echo.release();
        },
      ],
      check: async ({ world, messageId }, outcomes) => {
        expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
        const [accepted, ...again] = await evolutionSends(world);
        expect(again).toEqual([]);
        expect(await replyOf(messageId)).toMatchObject({
          status: 'sent',
          providerMessageId: accepted?.id,
        });
        expect((await outs(world)).map((m) => m.messageId)).toEqual([messageId]);
      },
      // One trial at a time: the held echoes are shared.
      parallelTrials: 1,
    });
    holdEchoes = false;
    expect(report.failures).toEqual([]);
  });

  it('an echo filed before the answer is adopted, and one filed after it files nothing', async () => {
    // Echo first: the channel's answer waits until the instance's upsert was filed.
    const world = await evolutionWorld();
    const { messageId } = await newReply(world, 'whatsapp_web');
    const echoFirst: ReplyChannel = {
      name: 'whatsapp_web',
      async send(s) {
        const result = await evolution.send(s);
        if (result.kind === 'accepted') await echoFiled(world, result.providerMessageId);
        return result;
      },
    };
    expect(await send(world, echoFirst, messageId)).toBe('sent');
    expect((await outs(world)).map((m) => m.messageId)).toEqual([messageId]);

    // Answer first: the upsert is held until the reply's record write is done.
    const later = await evolutionWorld();
    const second = await newReply(later, 'whatsapp_web');
    holdEchoes = true;
    try {
      expect(await send(later, evolution, second.messageId)).toBe('sent');
      const echo = await pollUntil(async () =>
        held.find((h) => h.body.includes(later.tenant.instance)),
      );
      held.splice(held.indexOf(echo), 1);
      await echo.release();
    } finally {
      holdEchoes = false;
    }
    expect(await replyOf(second.messageId)).toMatchObject({ status: 'sent' });
    expect((await outs(later)).map((m) => m.messageId)).toEqual([second.messageId]);
  });

  it('a lost answer is never resent: the reconcile finds the message in the instance’s record and the echo is adopted', async () => {
    const world = await evolutionWorld();
    const { messageId } = await newReply(world, 'whatsapp_web');
    await setFaults('evolution', { lostResponseRate: 1 });
    try {
      expect(await send(world, evolution, messageId)).toBe('unknown');
    } finally {
      await setFaults('evolution', null);
    }
    const [accepted] = await evolutionSends(world);
    await echoFiled(world, accepted?.id ?? '');
    // Filed before onceflow knew the id: for now an outbound message of its own.
    expect(await outs(world)).toHaveLength(2);

    world.clock.advance(601_000);
    const report = await reconcileReplies(reconcileDeps(world, evolution, 'retry_once'));
    expect(report).toMatchObject({ recorded: 1, retried: 0 });
    expect(await replyOf(messageId)).toMatchObject({
      status: 'sent',
      providerMessageId: accepted?.id,
    });
    expect((await outs(world)).map((m) => m.messageId)).toEqual([messageId]);
    expect(await evolutionSends(world)).toHaveLength(1);
  });

  it('two lost replies with the same text are never matched by a guess: the instance’s record is no evidence, hold ends them unknown', async () => {
    const world = await evolutionWorld();
    const body = `Same text ${randomUUID().slice(0, 6)}`;
    const first = await newReply(world, 'whatsapp_web', body);
    const second = await newReply(world, 'whatsapp_web', body);
    await setFaults('evolution', { lostResponseRate: 1 });
    try {
      expect(await send(world, evolution, first.messageId)).toBe('unknown');
      expect(await send(world, evolution, second.messageId)).toBe('unknown');
    } finally {
      await setFaults('evolution', null);
    }
    world.clock.advance(601_000);
    const report = await reconcileReplies(reconcileDeps(world, evolution, 'hold'));
    expect(report).toMatchObject({ recorded: 0, held: 2 });
    for (const { messageId } of [first, second]) {
      expect(await replyOf(messageId)).toMatchObject({ status: 'unknown' });
    }
    expect(await evolutionSends(world)).toHaveLength(2);
  });

  it('a refusal before sending is rejected, not unknown: no key, or a base URL the SSRF guard refuses', async () => {
    const base: ReplySend = {
      tenantId: 't',
      messageId: 'r',
      channel: 'whatsapp_web',
      to: '+972501234567',
      from: 'inst',
      body: 'hi',
    };
    const noKey = createEvolutionChannel({
      credentials: async () => undefined,
      guard: async () => {},
    });
    expect(await noKey.send(base)).toMatchObject({ kind: 'rejected', code: 'no_credentials' });
    requests.length = 0;
    const internal = createEvolutionChannel({
      credentials: async () => ({ baseUrl: 'http://169.254.169.254', apiKey: 'k' }),
      guard: async () => {
        throw new Error('the url host resolves to a linkLocal address');
      },
      fetch: recordingFetch,
    });
    expect(await internal.send(base)).toMatchObject({ kind: 'rejected', code: 'forbidden_target' });
    expect(requests).toEqual([]);
  });
});

describe('SMS replies through GoHighLevel’s conversations API', () => {
  it('are sent as SendMessageBodyDto to the phone’s contact with the Version headers, accepted with messageId', async () => {
    const world = await replyWorld();
    const { messageId, body } = await newReply(world, 'sms');
    requests.length = 0;
    expect(await send(world, ghl, messageId)).toBe('sent');

    const lookup = requests.find((r) => r.url.includes('/contacts/search/duplicate'));
    expect(lookup?.headers.get('version')).toBe(GHL_CONTACTS_VERSION);
    expect(lookup?.headers.get('authorization')).toBe('Bearer location-token');
    const post = requests.find((r) => r.url.endsWith('/conversations/messages'));
    expect(post?.headers.get('version')).toBe(GHL_CONVERSATIONS_VERSION);
    const request = sendMessageBody.parse(JSON.parse(post?.body ?? '{}'));
    expect(request).toMatchObject({ type: 'SMS', message: body });

    const [accepted, ...again] = await ghlSends(world);
    expect(again).toEqual([]);
    expect(accepted?.request).toEqual(request);
    expect(await replyOf(messageId)).toMatchObject({
      status: 'sent',
      providerMessageId: accepted?.messageId,
    });
    expect((await outs(world)).map((m) => m.messageId)).toEqual([messageId]);
  });

  it('the simulator answers in GHL’s shapes and refuses a call without the Version header', async () => {
    const world = await replyWorld();
    const headers = { authorization: 'Bearer t', 'content-type': 'application/json' };
    const contact = (await (
      await fetch(
        `${simUrl}/contacts/search/duplicate?locationId=${world.tenant.locationId}&number=${encodeURIComponent(world.phone)}`,
        { headers: { ...headers, version: GHL_CONTACTS_VERSION } },
      )
    ).json()) as { contact: { id: string } };
    const noVersion = await fetch(`${simUrl}/conversations/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ type: 'SMS', contactId: contact.contact.id, message: 'x' }),
    });
    expect(noVersion.status).toBe(400);
    const sent = await fetch(`${simUrl}/conversations/messages`, {
      method: 'POST',
      headers: { ...headers, version: GHL_CONVERSATIONS_VERSION },
      body: JSON.stringify({ type: 'SMS', contactId: contact.contact.id, message: 'shape' }),
    });
    const answer = sendMessageAnswer.parse(await sent.json());
    const listed = await fetch(`${simUrl}/conversations/${answer.conversationId}/messages`, {
      headers: { ...headers, version: GHL_CONVERSATIONS_VERSION },
    });
    const messages = messagesByConversation.parse(await listed.json());
    expect(messages.messages.messages.map((m) => m.id)).toEqual([answer.messageId]);
  });

  it('a lost answer is never resent: the reconcile finds the SMS in the contact’s conversation', async () => {
    const world = await replyWorld();
    const { messageId } = await newReply(world, 'sms');
    await setFaults('ghl', { lostResponseRate: 1 });
    try {
      expect(await send(world, ghl, messageId)).toBe('unknown');
    } finally {
      await setFaults('ghl', null);
    }
    world.clock.advance(601_000);
    const report = await reconcileReplies(reconcileDeps(world, ghl, 'retry_once'));
    expect(report).toMatchObject({ recorded: 1, retried: 0 });
    const [accepted, ...again] = await ghlSends(world);
    expect(again).toEqual([]);
    expect(await replyOf(messageId)).toMatchObject({
      status: 'sent',
      providerMessageId: accepted?.messageId,
    });
  });

  it('an SMS the provider never got is absent from its record: the reply is released and sent once', async () => {
    const world = await replyWorld();
    const { messageId } = await newReply(world, 'sms');
    const lostBeforeSending: ReplyChannel = {
      name: 'sms',
      send: async () => ({ kind: 'unknown', reason: 'ETIMEDOUT' }),
      ...(ghl.findSent ? { findSent: ghl.findSent } : {}),
    };
    expect(await send(world, lostBeforeSending, messageId)).toBe('unknown');
    world.clock.advance(601_000);
    const report = await reconcileReplies(reconcileDeps(world, ghl, 'hold'));
    expect(report).toMatchObject({ recorded: 0, released: 1 });
    expect(await replyOf(messageId)).toMatchObject({ status: 'queued' });
    expect(await send(world, ghl, messageId)).toBe('sent');
    expect(await ghlSends(world)).toHaveLength(1);
  });
});
