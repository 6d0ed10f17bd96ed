/**
 * The WhatsApp simulator's status webhooks for a number that cannot receive WhatsApp: the send is
 * accepted (as the Cloud API does) and the only status is `failed` with 131026, so an operator can
 * watch a recipient end `failed` with `lastError` through the real webhook path.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listen } from '../../lib/local/http-util.js';
import { whatsappSimulator } from '../../lib/local/sim/whatsapp.js';
import { createSimulatorServer, type SimulatorServer } from '../../lib/local/simulators.js';

interface PostedStatus {
  id: string;
  status: string;
  errors?: Array<{ code: number; title: string }>;
  biz_opaque_callback_data?: string;
}

const posted: PostedStatus[] = [];
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
        name === 'ONCEFLOW_DATA_DIR' ? `/tmp/onceflow-unit-sim-${process.pid}` : undefined,
      log: () => {},
    },
    factories: [whatsappSimulator],
  });
  simUrl = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  await sim.closeModules();
  await closeServer(sim.server);
  await closeServer(api);
});

async function send(to: string, callback: string): Promise<string> {
  const response = await fetch(`${simUrl}/v21.0/100200300/messages`, {
    method: 'POST',
    headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
    body: JSON.stringify({
      messaging_product: 'whatsapp',
      to,
      type: 'template',
      template: { name: 'spring_sale', language: { code: 'en_US' } },
      biz_opaque_callback_data: callback,
    }),
  });
  expect(response.status).toBe(200);
  const json = (await response.json()) as { messages: Array<{ id: string }> };
  return json.messages[0]?.id ?? '';
}

describe('undeliverable numbers', () => {
  it('accepts the send, then reports it failed with 131026 and nothing else', async () => {
    const faults = await fetch(`${simUrl}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        whatsapp: { statusDelayMs: 10, undeliverableNumbers: ['+972501110000'] },
      }),
    });
    expect(faults.status).toBe(200);
    const bad = await send('972501110000', 'ofc1|cmp_1|+972501110000');
    const good = await send('972501110001', 'ofc1|cmp_1|+972501110001');
    const deadline = Date.now() + 5000;
    while (
      Date.now() < deadline &&
      !posted.some((s) => s.id === good && s.status === 'delivered')
    ) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 100));
    const forBad = posted.filter((s) => s.id === bad);
    expect(forBad.length).toBeGreaterThan(0);
    for (const status of forBad) {
      expect(status).toMatchObject({
        status: 'failed',
        biz_opaque_callback_data: 'ofc1|cmp_1|+972501110000',
        errors: [{ code: 131026, title: 'Message undeliverable' }],
      });
    }
    expect(posted.filter((s) => s.id === good).map((s) => s.status)).toContain('delivered');
  });

  it('refuses a malformed list with the field named', async () => {
    const faults = await fetch(`${simUrl}/_sim/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ whatsapp: { undeliverableNumbers: ['hello'] } }),
    });
    expect(faults.status).toBe(400);
    expect(JSON.stringify(await faults.json())).toContain('undeliverableNumbers');
  });
});
