/**
 * The provider simulators' server (SIM_PORT): a shell that owns the shared routes and hands every
 * other request to the registered provider modules in `lib/local/sim/` (see `sim/index.ts`).
 *
 * Shared routes:
 * - `GET /health` → `{"status": "ok", "simulators": ["whatsapp", ...]}`
 * - `PUT /_sim/faults` `{"<module name>": {...}}` → each named module's `setFaults`, which merges
 *   the fields given into what is armed (`{"<module>": null}` clears that module); an unknown
 *   module name or a bad field → 400 and nothing changes. The answer is the listing below.
 * - `GET /_sim/faults` → `{"faults": {<module>: its armed settings}}`: only what is armed, a
 *   module with nothing armed is left out (`{"faults": {}}` when nothing is).
 * - `DELETE /_sim/faults` → every module's `clearFaults`; `DELETE /_sim/faults/<module>` clears one.
 *
 * Faults are kept in memory: a restarted runtime starts with none armed. The providers' ledgers
 * (what they accepted) are journalled under the data directory and survive it (`sim/journal.ts`).
 * - `POST /_sim/reset` → every module's `reset` (clears ledgers).
 *
 * A write to any `/_sim/*` route needs `content-type: application/json` and a loopback `Host`
 * (`refuseCrossSiteWrite`): no web page can reset the ledgers or inject faults.
 */
import { createServer, type Server } from 'node:http';
import {
  PayloadTooLargeError,
  readJson,
  refuseCrossSiteWrite,
  sendError,
  sendJson,
} from './http-util.js';
import { describeError } from './lambda.js';
import {
  type SimulatorContext,
  type SimulatorFactory,
  type SimulatorModule,
  simulatorFactories,
} from './sim/index.js';

export type { SimulatorContext, SimulatorFactory, SimulatorModule } from './sim/index.js';

export interface SimulatorServerOptions {
  readonly context: SimulatorContext;
  /** @default the modules registered in `sim/index.ts` */
  readonly factories?: readonly SimulatorFactory[];
}

export interface SimulatorServer {
  readonly server: Server;
  readonly modules: readonly SimulatorModule[];
  /** Lets modules cancel their timers; the caller closes `server`. */
  closeModules(): Promise<void>;
}

export function createSimulatorServer(options: SimulatorServerOptions): SimulatorServer {
  const modules = (options.factories ?? simulatorFactories).map((create) =>
    create(options.context),
  );
  const log = options.context.log;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const key = `${req.method} ${url.pathname}`;
    (async () => {
      if (url.pathname.startsWith('/_sim/') && refuseCrossSiteWrite(req, res)) return;
      if (key === 'GET /health') {
        sendJson(res, 200, { status: 'ok', simulators: modules.map((m) => m.name) });
        return;
      }
      if (key === 'POST /_sim/reset') {
        for (const module of modules) await module.reset?.();
        sendJson(res, 200, { reset: true });
        return;
      }
      const armedFaults = () => ({
        faults: Object.fromEntries(
          modules
            .map((m) => [m.name, structuredClone(m.getFaults?.() ?? {})] as const)
            .filter(([, armed]) => Object.keys(armed).length > 0),
        ),
      });
      if (key === 'GET /_sim/faults') {
        sendJson(res, 200, armedFaults());
        return;
      }
      if (key === 'DELETE /_sim/faults') {
        for (const module of modules) await module.clearFaults?.();
        sendJson(res, 200, { cleared: true, ...armedFaults() });
        return;
      }
      if (req.method === 'DELETE' && url.pathname.startsWith('/_sim/faults/')) {
        const name = decodeURIComponent(url.pathname.slice('/_sim/faults/'.length));
        const module = modules.find((m) => m.name === name && m.clearFaults);
        if (!module) {
          sendError(res, 404, 'not_found', `no simulator takes faults named ${name}`);
          return;
        }
        await module.clearFaults?.();
        sendJson(res, 200, armedFaults());
        return;
      }
      if (key === 'PUT /_sim/faults') {
        const body = await readJson(req);
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          sendError(res, 400, 'invalid_request', 'expected {"<simulator>": {...faults}}');
          return;
        }
        const entries = Object.entries(body);
        const unknown = entries.filter(
          ([name]) => !modules.some((m) => m.name === name && m.setFaults),
        );
        if (unknown.length > 0) {
          sendError(
            res,
            400,
            'invalid_request',
            `no simulator takes faults named ${unknown.map(([name]) => name).join(', ')}`,
            unknown.map(([name]) => ({ field: name, message: 'unknown simulator' })),
          );
          return;
        }
        // Each module's armed settings before, so a refused body changes nothing at all.
        const before = modules.map((m) => [m, structuredClone(m.getFaults?.() ?? {})] as const);
        for (const [name, faults] of entries) {
          try {
            await modules.find((m) => m.name === name)?.setFaults?.(faults);
          } catch (error) {
            for (const [module, armed] of before) {
              await module.clearFaults?.();
              await module.setFaults?.(armed);
            }
            sendError(res, 400, 'invalid_request', `${name}: ${describeError(error)}`, [
              { field: name, message: error instanceof Error ? error.message : String(error) },
            ]);
            return;
          }
        }
        sendJson(res, 200, armedFaults());
        return;
      }
      for (const module of modules) {
        if (await module.handle(req, res, url)) return;
      }
      sendError(res, 404, 'not_found', `no simulator route for ${req.method} ${url.pathname}`);
    })().catch((error: unknown) => {
      if (error instanceof PayloadTooLargeError) {
        sendError(res, 413, 'payload_too_large', error.message);
        return;
      }
      if (error instanceof SyntaxError) {
        sendError(res, 400, 'invalid_request', 'the body is not valid JSON');
        return;
      }
      log(`[sim] ${key} → 500: ${describeError(error)}`);
      if (!res.headersSent) sendError(res, 500, 'internal', 'simulator error');
      else res.destroy();
    });
  });

  return {
    server,
    modules,
    async closeModules() {
      for (const module of modules) await module.close?.();
    },
  };
}
