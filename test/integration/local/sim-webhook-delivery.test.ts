/**
 * The WhatsApp simulator delivers its status webhooks as Meta does (issue 20.8), against the real
 * `POST /webhooks/whatsapp` handler served on a local port and DynamoDB Local:
 *
 * - a send whose answer was lost leaves its contact `sending`; the only evidence is the status
 *   webhook. When that webhook meets a killed runtime (nothing listening) the simulator keeps it
 *   owed; the simulator is stopped and started again on the same data dir (a kill of the whole
 *   runtime), the API comes back, and the status is delivered and reconciles the contact;
 * - a status webhook that meets a crashed handler (failpoint `campaign.status.after-apply`: the
 *   process dies, no answer) is delivered again once Meta's wait passes on the clock seam, and
 *   changes nothing twice.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FP_STATUS_AFTER_APPLY } from '../../../functions/campaigns/failpoints.js';
import { markRunning } from '../../../functions/campaigns/lifecycle.js';
import { sendToRecipient } from '../../../functions/campaigns/sender.js';
import { createWhatsAppClient } from '../../../functions/campaigns/whatsapp-client.js';
import { advanceSystemClock } from '../../../functions/kernel/clock.js';
import { armOnce, clearFailpoints, firedCount } from '../../../functions/kernel/failpoints.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { closeServer, listen } from '../../../lib/local/http-util.js';
import { whatsappSimulator } from '../../../lib/local/sim/whatsapp.js';
import { createSimulatorServer, type SimulatorServer } from '../../../lib/local/simulators.js';
import {
  type CampaignWorld,
  campaignWorld,
  newCampaign,
  testSenderDeps,
} from '../campaigns/campaign-support.js';
import { invoke } from '../conversations/inbound-support.js';

let world: CampaignWorld;
const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-sim-delivery-'));
let apiPort = 0;
const answered: number[] = [];
const CRASHED = -1;

beforeAll(async () => {
  world = await campaignWorld();
  // Find a free port for the API, then leave it closed: the runtime starts killed.
  const probe = createServer();
  apiPort = await listen(probe, 0, '127.0.0.1');
  await closeServer(probe);
});

afterAll(() => clearFailpoints());

/** The real Cloud webhook handler on `apiPort`, answering what the handler answers. */
async function startApi(): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', async () => {
      const answer = await invoke(whatsapp, {
        method: 'POST',
        routeKey: 'POST /webhooks/whatsapp',
        path: '/webhooks/whatsapp',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': String(req.headers['x-hub-signature-256'] ?? ''),
        },
        body,
      }).catch(() => undefined);
      if (!answer) {
        // A failpoint crashed the handler: the process died, nobody answers.
        answered.push(CRASHED);
        req.socket.destroy();
        return;
      }
      answered.push(answer.status);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text);
    });
  });
  await listen(server, apiPort, '127.0.0.1');
  return server;
}

async function startSim(): Promise<{ sim: SimulatorServer; url: string }> {
  const sim = createSimulatorServer({
    context: {
      apiBaseUrl: `http://127.0.0.1:${apiPort}`,
      simBaseUrl: '',
      env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? dataDir : process.env[name]),
      log: () => {},
    },
    factories: [whatsappSimulator],
  });
  return { sim, url: `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}` };
}

async function stopSim({ sim }: { sim: SimulatorServer }): Promise<void> {
  await sim.closeModules();
  await closeServer(sim.server);
}

async function setFaults(url: string, faults: Record<string, number>): Promise<void> {
  await fetch(`${url}/_sim/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ whatsapp: faults }),
  });
}

async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  expect(await check()).toBe(true);
}

describe('status webhooks delivered as Meta delivers them (issue 20.8)', () => {
  it('a status owed while the runtime was killed is delivered after the restart and reconciles the contact', async () => {
    const phone = '+972501239001';
    const id = await newCampaign(world, [phone]);
    await markRunning(world.deps, world.tenant.tenantId, id);
    const first = await startSim();
    await setFaults(first.url, { lostResponseRate: 1, statusDelayMs: 5 });
    const client = createWhatsAppClient({
      baseUrl: first.url,
      version: 'v24.0',
      accessToken: async () => 't',
    });
    const outcome = await sendToRecipient(testSenderDeps(world.deps, client, 'w1'), {
      tenantId: world.tenant.tenantId,
      campaignId: id,
      phone,
    });
    expect(outcome).toBe('unknown');
    const key = { tenantId: world.tenant.tenantId, campaignId: id, phone: phone };
    expect(await world.deps.store.recipients.get(key)).toMatchObject({ status: 'sending' });
    // The statuses fall due while nothing listens, and the simulator owes them...
    await until(async () => {
      const ledger = (await (await fetch(`${first.url}/_sim/whatsapp/messages`)).json()) as {
        deliveries: { attempts: number };
      };
      return ledger.deliveries.attempts >= 2;
    });
    // ...when the whole runtime is killed.
    await stopSim(first);
    const api = await startApi();
    const second = await startSim();
    try {
      advanceSystemClock(60_000); // past Meta's next wait, on the clock seam
      await until(async () => {
        const r = await world.deps.store.recipients.get(key);
        return r?.status === 'delivered' || r?.status === 'read';
      });
      expect((await world.deps.store.recipients.get(key))?.providerMessageId).toMatch(/^wamid\./);
    } finally {
      await stopSim(second);
      await closeServer(api);
    }
  });

  it('a status that meets a crashed handler is delivered again and applied once', async () => {
    const phone = '+972501239002';
    const id = await newCampaign(world, [phone]);
    await markRunning(world.deps, world.tenant.tenantId, id);
    const api = await startApi();
    const sim = await startSim();
    try {
      await fetch(`${sim.url}/_sim/reset`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      await setFaults(sim.url, { statusDelayMs: 5 });
      armOnce(FP_STATUS_AFTER_APPLY);
      const before = answered.length;
      const client = createWhatsAppClient({
        baseUrl: sim.url,
        version: 'v24.0',
        accessToken: async () => 't',
      });
      expect(
        await sendToRecipient(testSenderDeps(world.deps, client, 'w2'), {
          tenantId: world.tenant.tenantId,
          campaignId: id,
          phone,
        }),
      ).toBe('sent');
      await until(async () => answered.slice(before).includes(CRASHED));
      expect(firedCount(FP_STATUS_AFTER_APPLY)).toBe(1);
      advanceSystemClock(60_000);
      const key = { tenantId: world.tenant.tenantId, campaignId: id, phone: phone };
      await until(async () => {
        const ledger = (await (await fetch(`${sim.url}/_sim/whatsapp/messages`)).json()) as {
          pendingStatuses: number;
        };
        return ledger.pendingStatuses === 0;
      });
      const after = answered.slice(before);
      expect(after.filter((s) => s === CRASHED)).toHaveLength(1);
      // The crashed delivery was answered 200 when it came again.
      expect(after.lastIndexOf(200)).toBeGreaterThan(after.indexOf(CRASHED));
      expect((await world.deps.store.recipients.get(key))?.status).toMatch(/^(delivered|read)$/);
    } finally {
      await stopSim(sim);
      await closeServer(api);
    }
  });
});
