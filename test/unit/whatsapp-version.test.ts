/**
 * The Graph API version as a policy on the WhatsApp side: the client speaks the configured version;
 * Graph's answer for a path that does not exist (a version it never had) holds the recipient, never
 * fails it nor spins; the simulator answers it as Graph does; a phone number id is never a path.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterRefusal } from '../../functions/campaigns/sender.js';
import {
  classifyError,
  createWhatsAppClient,
  whatsappApiVersion,
} from '../../functions/campaigns/whatsapp-client.js';
import { DEFAULT_VERSIONS } from '../../functions/kernel/provider-versions.js';
import { closeServer, listen } from '../../lib/local/http-util.js';
import { whatsappSimulator } from '../../lib/local/sim/whatsapp.js';
import { createSimulatorServer, type SimulatorServer } from '../../lib/local/simulators.js';

const send = {
  phoneNumberId: '106540352242922',
  to: '+972501234567',
  template: { name: 'a', language: 'en' },
  callbackData: 'c',
};

let sim: SimulatorServer;
let simUrl: string;

const dataDir = mkdtempSync(join(tmpdir(), 'wa-sim-'));

beforeAll(async () => {
  sim = createSimulatorServer({
    context: {
      apiBaseUrl: 'http://127.0.0.1:1',
      simBaseUrl: '',
      env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? dataDir : process.env[name]),
      log: () => {},
    },
    factories: [whatsappSimulator],
  });
  simUrl = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
});
afterAll(async () => {
  await sim?.closeModules();
  if (sim) await closeServer(sim.server).catch(() => {});
});

describe('the Graph API version', () => {
  it('is the setting, else the default', () => {
    const saved = process.env.WHATSAPP_API_VERSION;
    try {
      delete process.env.WHATSAPP_API_VERSION;
      expect(whatsappApiVersion()).toBe(DEFAULT_VERSIONS.whatsappGraph);
      process.env.WHATSAPP_API_VERSION = 'v24.0';
      expect(whatsappApiVersion()).toBe('v24.0');
    } finally {
      if (saved === undefined) delete process.env.WHATSAPP_API_VERSION;
      else process.env.WHATSAPP_API_VERSION = saved;
    }
  });

  it('a version Graph never had is answered 2500 by the simulator, which holds the recipient', async () => {
    const response = await fetch(`${simUrl}/v99.0/${send.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to: '972501234567', type: 'text' }),
    });
    const body = (await response.json()) as { error: { code: number; type: string } };
    expect(response.status).toBe(400);
    expect(body.error).toMatchObject({ code: 2500, type: 'OAuthException' });
    expect(classifyError(response.status, body.error.code)).toBe('version_rejected');
    expect(afterRefusal('version_rejected')).toBe('later');
  });
});

describe('a version past its end', () => {
  it('is refused before anything is sent, and holds the recipient', async () => {
    const requested: string[] = [];
    const client = createWhatsAppClient({
      baseUrl: 'http://graph.example',
      version: 'v20.0',
      accessToken: async () => 't',
      now: () => Date.parse('2026-12-06T00:00:00Z'),
      fetch: async (url) => {
        requested.push(String(url));
        return new Response('{"messages":[{"id":"wamid.x"}]}', { status: 200 });
      },
    });
    const result = await client.sendTemplate(send);
    expect(result).toMatchObject({ kind: 'rejected', class: 'version_rejected' });
    expect(result.kind === 'rejected' && result.message).toMatch(
      /WHATSAPP_API_VERSION=v20.0 was sunset on 2026-09-24/,
    );
    expect(requested).toEqual([]);
  });
});

describe('phone number ids', () => {
  it('a phone number id that is not digits never reaches the Graph path', async () => {
    const requested: string[] = [];
    const client = createWhatsAppClient({
      baseUrl: 'http://graph.example',
      version: 'v25.0',
      accessToken: async () => 't',
      fetch: async (url) => {
        requested.push(String(url));
        return new Response('{"messages":[{"id":"wamid.x"}]}', { status: 200 });
      },
    });
    for (const bad of ['..', '../../me', '1/2']) {
      expect((await client.sendTemplate({ ...send, phoneNumberId: bad })).kind).toBe('rejected');
    }
    expect(requested).toEqual([]);
    await client.sendTemplate(send);
    expect(requested).toEqual([`http://graph.example/v25.0/${send.phoneNumberId}/messages`]);
  });
});
