/**
 * `PUT /_sim/faults` as a user expects it: a PUT merges into what is armed (the documented
 * `undeliverableNumbers` example keeps an earlier `errorRate`), a field set back to its default or a
 * provider set to `null` disarms, `DELETE` clears, a refused body changes nothing, and the listing
 * shows only what is armed (no `errorRate: 0` ghosts). Served by the real simulator shell with the
 * real provider modules.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeServer, listen } from '../../lib/local/http-util.js';
import { createSimulatorServer, type SimulatorServer } from '../../lib/local/simulators.js';

let sim: SimulatorServer;
let simUrl: string;

async function faults(
  method: 'GET' | 'PUT' | 'DELETE',
  body?: unknown,
  path = '/_sim/faults',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${simUrl}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  sim = createSimulatorServer({
    context: {
      apiBaseUrl: 'http://127.0.0.1:9',
      simBaseUrl: '',
      env: (name) =>
        name === 'ONCEFLOW_DATA_DIR' ? `/tmp/onceflow-unit-faults-${process.pid}` : undefined,
      log: () => {},
    },
  });
  simUrl = `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  await sim.closeModules();
  await closeServer(sim.server);
});

beforeEach(async () => {
  await faults('DELETE');
});

describe('simulator faults', () => {
  it('lists nothing when nothing is armed', async () => {
    expect(await faults('GET')).toEqual({ status: 200, json: { faults: {} } });
  });

  it('merges a PUT into what is armed: undeliverableNumbers keeps errorRate', async () => {
    await faults('PUT', { whatsapp: { errorRate: 0.2 }, googleAds: { latencyMs: 5 } });
    const put = await faults('PUT', { whatsapp: { undeliverableNumbers: ['+15550001111'] } });
    const armed = {
      whatsapp: { errorRate: 0.2, undeliverableNumbers: ['+15550001111'] },
      googleAds: { latencyMs: 5 },
    };
    expect(put).toEqual({ status: 200, json: { faults: armed } });
    expect((await faults('GET')).json).toEqual({ faults: armed });
  });

  it('an empty PUT changes nothing and answers what is armed', async () => {
    await faults('PUT', { openai: { errorRate: 1 } });
    expect((await faults('PUT', {})).json).toEqual({ faults: { openai: { errorRate: 1 } } });
    expect((await faults('PUT', { openai: {} })).json).toEqual({
      faults: { openai: { errorRate: 1 } },
    });
  });

  it('a field set back to its default disarms it; null clears a provider', async () => {
    await faults('PUT', { whatsapp: { errorRate: 0.5, latencyMs: 10 }, openai: { errorRate: 1 } });
    expect((await faults('PUT', { whatsapp: { errorRate: 0 } })).json).toEqual({
      faults: { whatsapp: { latencyMs: 10 }, openai: { errorRate: 1 } },
    });
    expect((await faults('PUT', { whatsapp: null })).json).toEqual({
      faults: { openai: { errorRate: 1 } },
    });
  });

  it('DELETE clears every provider; DELETE /_sim/faults/<name> clears one', async () => {
    await faults('PUT', { whatsapp: { errorRate: 0.5 }, googleAds: { errorRate: 0.5 } });
    expect((await faults('DELETE', undefined, '/_sim/faults/googleAds')).json).toEqual({
      faults: { whatsapp: { errorRate: 0.5 } },
    });
    expect((await faults('DELETE', undefined, '/_sim/faults/nope')).status).toBe(404);
    expect((await faults('DELETE')).json).toEqual({ cleared: true, faults: {} });
  });

  it('a refused body changes nothing, not even the providers it named correctly', async () => {
    await faults('PUT', { whatsapp: { errorRate: 0.1 } });
    const refused = await faults('PUT', {
      whatsapp: { errorRate: 0.9 },
      googleAds: { errorRate: 7 },
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json)).toContain('googleAds');
    const unknownField = await faults('PUT', { whatsapp: { errorRat: 0.9 } });
    expect(unknownField.status).toBe(400);
    expect((await faults('GET')).json).toEqual({ faults: { whatsapp: { errorRate: 0.1 } } });
  });
});
