/**
 * The corpus of real-format provider payloads (`test/fixtures/providers/<provider>/`, one file per
 * shape found in the providers' documentation and sources, each naming its `source`) replayed
 * twice through the real webhook handlers against DynamoDB Local (issue 20.6):
 *
 * - no answer is a 5xx and no legitimate item is counted `invalid`;
 * - every message is stored once: the first replay stores what each file expects, the second
 *   stores nothing new;
 * - every status is applied: the campaign recipients the statuses name (sent for real through the
 *   WhatsApp simulator, so the wamids and `biz_opaque_callback_data` are the sender's own) end at
 *   the furthest status their files report;
 * - one person per human: every message of one human (whatever provider, id form or version sent
 *   it) is in one conversation, and two humans never share one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markRunning } from '../../../functions/campaigns/lifecycle.js';
import { sendToRecipient } from '../../../functions/campaigns/sender.js';
import { keys, messageIdFor } from '../../../functions/conversations/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import { handler as ghl } from '../../../functions/webhooks/handlers/receive-ghl-sms.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { handler as web } from '../../../functions/webhooks/handlers/receive-whatsapp-web.js';
import { testSqsClient } from '../../support/emulators.js';
import {
  type CampaignWorld,
  campaignWorld,
  listAll,
  newCampaign,
  simClient,
  startWhatsAppSimulator,
  testSenderDeps,
  type WhatsAppSimulator,
} from '../campaigns/campaign-support.js';
import {
  cloudCall,
  type HttpResult,
  invoke,
  listedConversations,
  privateJobsQueue,
  tokenCall,
} from '../conversations/inbound-support.js';

interface Fixture {
  readonly file: string;
  readonly provider: 'whatsapp-cloud' | 'evolution' | 'ghl';
  readonly source: string;
  readonly shape: string;
  readonly route: string;
  readonly human?: string | string[] | null;
  readonly expect?: { stored?: number; unroutable?: number; ignored?: boolean };
  readonly recipient?: string;
  readonly finalStatus?: string;
  readonly payload: unknown;
}

const ROOT = new URL('../../fixtures/providers/', import.meta.url);
const PROVIDERS = ['whatsapp-cloud', 'evolution', 'ghl'] as const;

function loadCorpus(): Fixture[] {
  return PROVIDERS.flatMap((provider) =>
    readdirSync(new URL(`${provider}/`, ROOT))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((file) => ({
        ...(JSON.parse(readFileSync(new URL(`${provider}/${file}`, ROOT), 'utf8')) as Fixture),
        file: `${provider}/${file}`,
        provider,
      })),
  );
}

const corpus = loadCorpus();
let world: CampaignWorld;
let sim: WhatsAppSimulator;
/** Per status recipient (E.164): the wamid and callback data of the send the simulator accepted. */
const sends = new Map<string, { wamid: string; callback: string }>();
let campaignId = '';

beforeAll(async () => {
  const sqs = testSqsClient();
  await privateJobsQueue(sqs);
  world = await campaignWorld();
  sim = await startWhatsAppSimulator('corpus');
  const recipients = [...new Set(corpus.flatMap((f) => (f.recipient ? [f.recipient] : [])))].sort();
  campaignId = await newCampaign(world, recipients);
  await markRunning(world.deps, world.tenant.tenantId, campaignId);
  const deps = testSenderDeps(world.deps, simClient(sim.url), 'corpus-sender');
  for (const phone of recipients) {
    const outcome = await sendToRecipient(deps, {
      tenantId: world.tenant.tenantId,
      campaignId,
      phone,
    });
    expect(outcome, phone).toBe('sent');
  }
  const ledger = (await (await fetch(`${sim.url}/_sim/whatsapp/messages`)).json()) as {
    messages: Array<{ wamid: string; bizOpaqueCallbackData: string }>;
  };
  for (const entry of ledger.messages) {
    const phone = entry.bizOpaqueCallbackData.split('|')[2] ?? '';
    sends.set(phone, { wamid: entry.wamid, callback: entry.bizOpaqueCallbackData });
  }
});

afterAll(async () => {
  await sim?.close();
});

/** The payload as sent to this test's tenant (ids of the tenant and of the statuses' sends). */
function bodyOf(fixture: Fixture): string {
  const t = world.testTenant;
  const send = fixture.recipient ? sends.get(fixture.recipient) : undefined;
  return JSON.stringify(fixture.payload)
    .replaceAll('{{PHONE_NUMBER_ID}}', t.phoneNumberId)
    .replaceAll('{{INSTANCE}}', t.instance)
    .replaceAll('{{LOCATION_ID}}', t.locationId)
    .replaceAll('{{WAMID}}', send?.wamid ?? 'wamid.none')
    .replaceAll('{{CALLBACK}}', send?.callback ?? '');
}

function deliver(fixture: Fixture): Promise<HttpResult> {
  const body = bodyOf(fixture);
  const token = world.testTenant.webhookToken;
  if (fixture.provider === 'whatsapp-cloud') return invoke(whatsapp, cloudCall(body));
  if (fixture.provider === 'ghl') return invoke(ghl, tokenCall('/webhooks/ghl/sms', body, token));
  const event = fixture.route.split('/webhooks/whatsapp-web/')[1];
  const call = tokenCall('/webhooks/whatsapp-web', body, token);
  return invoke(
    web,
    event
      ? {
          ...call,
          routeKey: 'POST /webhooks/whatsapp-web/{event}',
          path: fixture.route,
          pathParameters: { event },
        }
      : call,
  );
}

/** The dedupe keys of the messages a payload carries (as the handlers derive them). */
function messageKeysOf(fixture: Fixture): string[] {
  const payload = fixture.payload as Record<string, unknown>;
  if (fixture.provider === 'whatsapp-cloud') {
    const entries = payload.entry as Array<{ changes: Array<{ value: { messages?: unknown[] } }> }>;
    return entries.flatMap((e) =>
      e.changes.flatMap((c) =>
        (c.value.messages ?? []).map((m) => `wamid:${(m as { id: string }).id}`),
      ),
    );
  }
  if (fixture.provider === 'evolution') {
    const data = payload.data;
    const items = (Array.isArray(data) ? data : [data]) as Array<{ key: { id: string } }>;
    return items.map((i) => `wa_web:${i.key.id}`);
  }
  return [];
}

async function conversationOfMessage(messageId: string): Promise<string> {
  const out = await ddb.send(
    new GetCommand({
      TableName: tableName('inbound'),
      Key: keys.message(messageId),
      ConsistentRead: true,
    }),
  );
  return String(out.Item?.conversationId ?? '');
}

describe('the provider corpus replays clean (issue 20.6)', () => {
  it('has a source for every file and covers every shape the issue names', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    for (const f of corpus) {
      expect(f.source, f.file).toMatch(/\S{10,}/);
      expect(f.shape, f.file).toBeTruthy();
    }
    const cloudTypes = new Set(
      corpus
        .filter((f) => f.provider === 'whatsapp-cloud')
        .flatMap((f) => {
          const entries = (
            f.payload as {
              entry: Array<{ changes: Array<{ value: { messages?: Array<{ type: string }> } }> }>;
            }
          ).entry;
          return entries.flatMap((e) =>
            e.changes.flatMap((c) => (c.value.messages ?? []).map((m) => m.type)),
          );
        }),
    );
    for (const type of [
      'text',
      'image',
      'audio',
      'video',
      'document',
      'sticker',
      'location',
      'contacts',
      'interactive',
      'button',
      'reaction',
      'order',
      'system',
      'unsupported',
    ]) {
      expect(cloudTypes, type).toContain(type);
    }
  });

  it('stores every message once, applies every status, one person per human, no 5xx, no invalid', async () => {
    const ghlMessageIds = new Map<string, string>();
    for (const pass of [1, 2]) {
      for (const fixture of corpus) {
        const answer = await deliver(fixture);
        const where = `${fixture.file} (replay ${pass})`;
        expect(answer.status, `${where}: ${answer.text}`).toBe(200);
        if (fixture.provider === 'ghl') {
          expect(answer.json.deduped, where).toBe(pass === 2);
          if (pass === 1) ghlMessageIds.set(fixture.file, answer.json.messageId);
          else expect(answer.json.messageId, where).toBe(ghlMessageIds.get(fixture.file));
          continue;
        }
        if (fixture.expect?.ignored) {
          expect(answer.json, where).toEqual({ ignored: true });
          continue;
        }
        expect(answer.json.invalid ?? 0, where).toBe(0);
        if (fixture.recipient) continue; // statuses: checked on the recipients below
        const stored = fixture.expect?.stored ?? 0;
        expect(answer.json.stored, where).toBe(pass === 1 ? stored : 0);
        expect(answer.json.deduped, where).toBe(pass === 1 ? 0 : stored);
        expect(answer.json.unroutable, where).toBe(fixture.expect?.unroutable ?? 0);
      }
    }

    // Every status applied: each recipient ends at the furthest status its files report.
    const recipients = await listAll(world.deps, world.tenant.tenantId, campaignId);
    for (const fixture of corpus.filter((f) => f.recipient)) {
      const r = recipients.find((x) => x.phone === fixture.recipient);
      expect(r?.status, fixture.file).toBe(fixture.finalStatus);
    }

    // One person per human.
    const tenantId = world.tenant.tenantId;
    const byHuman = new Map<string, Set<string>>();
    for (const fixture of corpus) {
      const humans = fixture.human ? [fixture.human].flat() : [];
      if (humans.length === 0) continue;
      const ids =
        fixture.provider === 'ghl'
          ? [ghlMessageIds.get(fixture.file) ?? '']
          : messageKeysOf(fixture).map((k) => messageIdFor(tenantId, k));
      for (const [i, messageId] of ids.entries()) {
        const human = humans.length === 1 ? humans[0] : humans[i];
        const conversation = await conversationOfMessage(messageId);
        expect(conversation, `${fixture.file} message ${i}`).toMatch(/^c_/);
        const set = byHuman.get(String(human)) ?? new Set<string>();
        set.add(conversation);
        byHuman.set(String(human), set);
      }
    }
    for (const [human, conversations] of byHuman) {
      expect([...conversations], human).toHaveLength(1);
    }
    const owners = [...byHuman.values()].map((s) => [...s][0]);
    expect(new Set(owners).size).toBe(owners.length);
    const listed = (await listedConversations(world.testTenant)) as unknown as Array<{
      displayName: string;
    }>;
    expect(listed).toHaveLength(byHuman.size);
    for (const c of listed) expect(c.displayName).not.toMatch(/^\+?\d{6,}$/);
  });
});
