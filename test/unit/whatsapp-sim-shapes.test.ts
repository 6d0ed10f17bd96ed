/**
 * The WhatsApp simulator speaks today's Cloud API (issue 20.7): its status webhooks carry
 * per-message pricing (`pricing_model: "PMP"`, no `conversation` object), a voice message ends
 * `played`, a message to a group names the member in `recipient_participant_id`, every webhook
 * passes onceflow's own Cloud webhook schema, and every error code it answers is one of Meta's.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudWebhookSchema } from '../../functions/webhooks/whatsapp-cloud.js';
import { closeServer, listen } from '../../lib/local/http-util.js';
import { SIM_GROUP_PARTICIPANT, whatsappSimulator } from '../../lib/local/sim/whatsapp.js';
import { createSimulatorServer, type SimulatorServer } from '../../lib/local/simulators.js';

/**
 * Meta's Cloud API error codes the simulator may answer, each in Meta's error-codes reference
 * (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
 */
const META_ERROR_CODES = new Set([100, 190, 130429, 131000, 131026, 132001]);

interface Posted {
  id: string;
  status: string;
  recipient_id: string;
  recipient_type?: string;
  recipient_participant_id?: string;
  pricing?: Record<string, unknown>;
  conversation?: unknown;
}

const posted: Posted[] = [];
const bodies: unknown[] = [];
let api: Server;
let sim: SimulatorServer;
let simUrl: string;

beforeAll(async () => {
  api = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const json = JSON.parse(body);
      bodies.push(json);
      for (const entry of json.entry) {
        for (const change of entry.changes) posted.push(...(change.value.statuses ?? []));
      }
      res.writeHead(200).end('{}');
    });
  });
  const apiUrl = `http://127.0.0.1:${await listen(api, 0, '127.0.0.1')}`;
  sim = createSimulatorServer({
    context: {
      apiBaseUrl: apiUrl,
      simBaseUrl: '',
      env: (name) =>
        name === 'ONCEFLOW_DATA_DIR' ? `/tmp/onceflow-unit-simshape-${process.pid}` : undefined,
      log: () => {},
    },
    factories: [whatsappSimulator],
  });
  simUrl = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
  await fetch(`${simUrl}/_sim/reset`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
  });
  await fetch(`${simUrl}/_sim/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ whatsapp: { statusDelayMs: 5 } }),
  });
});

afterAll(async () => {
  await sim.closeModules();
  await closeServer(sim.server);
  await closeServer(api);
});

interface GraphAnswer {
  readonly messages: Array<{ id: string }>;
  readonly error: { code: number };
}

async function post(
  body: unknown,
  auth = 'Bearer t',
): Promise<{ status: number; json: GraphAnswer }> {
  const response = await fetch(`${simUrl}/v24.0/106540352242922/messages`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as GraphAnswer };
}

async function statusesOf(wamid: string, last: string): Promise<Posted[]> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !posted.some((s) => s.id === wamid && s.status === last)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return posted.filter((s) => s.id === wamid);
}

describe('status webhooks in the current shape (issue 20.7)', () => {
  it('a template send: sent and delivered with per-message pricing, no conversation object', async () => {
    const sent = await post({
      messaging_product: 'whatsapp',
      to: '972501230099',
      type: 'template',
      template: { name: 'spring_sale', language: { code: 'en_US' } },
    });
    const wamid = sent.json.messages[0]?.id ?? '';
    const statuses = await statusesOf(wamid, 'delivered');
    for (const s of statuses.filter((x) => x.status === 'sent' || x.status === 'delivered')) {
      expect(s.pricing).toMatchObject({
        pricing_model: 'PMP',
        type: 'regular',
        category: 'marketing',
      });
      expect(s.conversation).toBeUndefined();
    }
    expect(statuses.map((s) => s.status)).toEqual(expect.arrayContaining(['sent', 'delivered']));
  });

  it('a voice message ends played', async () => {
    const sent = await post({
      messaging_product: 'whatsapp',
      to: '972501230098',
      type: 'audio',
      audio: { id: '1003383421387256' },
    });
    expect(sent.status).toBe(200);
    const statuses = await statusesOf(sent.json.messages[0]?.id ?? '', 'played');
    expect(statuses.map((s) => s.status)).toContain('played');
  });

  it('a message to a group names the member who got it', async () => {
    const sent = await post({
      messaging_product: 'whatsapp',
      recipient_type: 'group',
      to: '120363025246125486',
      type: 'text',
      text: { body: 'hello group' },
    });
    expect(sent.status).toBe(200);
    const statuses = await statusesOf(sent.json.messages[0]?.id ?? '', 'delivered');
    expect(statuses.length).toBeGreaterThan(0);
    for (const s of statuses) {
      expect(s).toMatchObject({
        recipient_id: '120363025246125486',
        recipient_type: 'group',
        recipient_participant_id: SIM_GROUP_PARTICIPANT,
      });
    }
  });

  it('every webhook it posted passes the Cloud webhook schema onceflow reads', () => {
    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) expect(cloudWebhookSchema.safeParse(body).success).toBe(true);
  });

  it('answers only error codes of Meta’s reference', async () => {
    const answers = [
      await post(
        { messaging_product: 'whatsapp', to: '972501230097', type: 'text', text: { body: 'x' } },
        '',
      ),
      await post({ to: '972501230097', type: 'text', text: { body: 'x' } }),
      await post({ messaging_product: 'whatsapp', to: 'abc', type: 'text', text: { body: 'x' } }),
      await post({
        messaging_product: 'whatsapp',
        to: '972501230097',
        type: 'template',
        template: { name: 'missing_template', language: { code: 'en_US' } },
      }),
    ];
    await fetch(`${simUrl}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ whatsapp: { errorRate: 1, statusDelayMs: 5 } }),
    });
    for (let i = 0; i < 20; i++) {
      answers.push(
        await post({
          messaging_product: 'whatsapp',
          to: '972501230097',
          type: 'text',
          text: { body: 'x' },
        }),
      );
    }
    await fetch(`${simUrl}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ whatsapp: { rateLimitPerSecond: 1, statusDelayMs: 5 } }),
    });
    for (let i = 0; i < 3; i++) {
      answers.push(
        await post({
          messaging_product: 'whatsapp',
          to: '972501230096',
          type: 'text',
          text: { body: 'x' },
        }),
      );
    }
    const codes = answers.filter((a) => a.status !== 200).map((a) => a.json.error.code);
    expect(codes.length).toBeGreaterThan(20);
    for (const code of codes) expect(META_ERROR_CODES.has(code), String(code)).toBe(true);
    const ledger = (await (await fetch(`${simUrl}/_sim/whatsapp/messages`)).json()) as {
      refused: Record<string, number>;
    };
    for (const code of Object.keys(ledger.refused))
      expect(META_ERROR_CODES.has(Number(code)), code).toBe(true);
  });
});
