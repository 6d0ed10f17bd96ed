/**
 * Local-only routes on the API port (never deployed): failpoints, the clock seam, queue depths and
 * a readiness probe. Errors use the contract's shape.
 *
 * - `GET /_local/ready` → `{"ready": true}` once every part of the runtime is up.
 * - `GET /_local/failpoints` → `{"failpoints": [{name, where, armed, fired}]}`.
 * - `PUT /_local/failpoints` `{"<name>": {"probability": 0.3, "times"?: 1}}` → the same listing;
 *   unknown names or bad settings → 400 `invalid_request` with `details`.
 * - `DELETE /_local/failpoints` → `{"cleared": true}`.
 * - `DELETE /_local/failpoints/{name}` → disarms that one point (listed `armed: null` again; its
 *   fired count stays) and answers the listing; an unknown name → 404. Arming a point at
 *   probability 0 disarms it too.
 * - `GET /_local/clock` and `POST /_local/clock/advance {"seconds": N}` → `{"now", "offsetSeconds"}`.
 * - `GET /_local/queues` → `{"queues": [...]}` (approximate visible / in-flight counts, with DLQs).
 *
 * Every write needs `content-type: application/json` and a loopback `Host` (`refuseCrossSiteWrite`),
 * so no web page a developer visits can move the clock or arm a failpoint.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  advanceSystemClock,
  systemClock,
  systemClockOffset,
} from '../../functions/kernel/clock.js';
import {
  armFailpoints,
  clearFailpoints,
  disarmFailpoint,
  type FailpointArming,
  listFailpoints,
  UnknownFailpointError,
} from '../../functions/kernel/failpoints.js';
import type { ExtraRoutes } from './http-adapter.js';
import {
  PayloadTooLargeError,
  readJson,
  refuseCrossSiteWrite,
  sendError,
  sendJson,
} from './http-util.js';

export interface LocalRoutesOptions {
  /** Resolves once every handler module was imported, so all failpoints are declared. */
  readonly handlersLoaded: () => Promise<void>;
  readonly queueStats: () => Promise<unknown[]>;
  /**
   * Called after the clock moved ahead: the queue pollers shorten what is left of their held
   * messages' visibility timeouts by as much (the emulator keeps real time).
   */
  readonly clockAdvanced?: (seconds: number) => Promise<void>;
  /** False until the runtime finished starting (and again while it stops). */
  readonly isReady: () => boolean;
}

export function createLocalRoutes(options: LocalRoutesOptions): ExtraRoutes {
  return async (req, res, url) => {
    if (!url.pathname.startsWith('/_local/')) return false;
    if (refuseCrossSiteWrite(req, res)) return true;
    const key = `${req.method} ${url.pathname.replace(/\/$/, '')}`;
    try {
      if (req.method === 'DELETE' && key.startsWith('DELETE /_local/failpoints/')) {
        await options.handlersLoaded();
        const name = decodeURIComponent(key.slice('DELETE /_local/failpoints/'.length));
        try {
          disarmFailpoint(name);
        } catch (error) {
          if (!(error instanceof UnknownFailpointError)) throw error;
          sendError(res, 404, 'not_found', `no failpoint is named ${name}`);
          return true;
        }
        sendJson(res, 200, { failpoints: listFailpoints() });
        return true;
      }
      switch (key) {
        case 'GET /_local/ready': {
          const ready = options.isReady();
          sendJson(res, ready ? 200 : 503, { ready });
          return true;
        }
        case 'GET /_local/failpoints':
          await options.handlersLoaded();
          sendJson(res, 200, { failpoints: listFailpoints() });
          return true;
        case 'PUT /_local/failpoints':
          await armFromRequest(req, res, options);
          return true;
        case 'DELETE /_local/failpoints':
          clearFailpoints();
          sendJson(res, 200, { cleared: true });
          return true;
        case 'GET /_local/clock':
          sendJson(res, 200, clockState());
          return true;
        case 'POST /_local/clock/advance':
          await advanceFromRequest(req, res, options);
          return true;
        case 'GET /_local/queues':
          sendJson(res, 200, { queues: await options.queueStats() });
          return true;
        default:
          sendError(res, 404, 'not_found', `no local route for ${req.method} ${url.pathname}`);
          return true;
      }
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        sendError(res, 413, 'payload_too_large', error.message);
      } else if (error instanceof SyntaxError) {
        sendError(res, 400, 'invalid_request', 'the body is not valid JSON');
      } else {
        throw error;
      }
      return true;
    }
  };
}

function clockState() {
  return {
    now: new Date(systemClock.now()).toISOString(),
    offsetSeconds: systemClockOffset() / 1000,
  };
}

async function armFromRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: LocalRoutesOptions,
): Promise<void> {
  const body = await readJson(req);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    sendError(res, 400, 'invalid_request', 'expected {"<failpoint>": {"probability": 0..1}}');
    return;
  }
  const settings: Record<string, FailpointArming> = {};
  const details: Array<{ field: string; message: string }> = [];
  for (const [name, value] of Object.entries(body)) {
    const arming = value as { probability?: unknown; times?: unknown } | null;
    const probability = arming?.probability;
    const times = arming?.times;
    if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
      details.push({ field: `${name}.probability`, message: 'must be a number from 0 to 1' });
      continue;
    }
    if (times !== undefined && !(Number.isInteger(times) && (times as number) > 0)) {
      details.push({ field: `${name}.times`, message: 'must be a positive integer' });
      continue;
    }
    settings[name] = { probability, ...(times !== undefined ? { times: times as number } : {}) };
  }
  if (details.length > 0) {
    sendError(res, 400, 'invalid_request', 'some failpoint settings are invalid', details);
    return;
  }
  await options.handlersLoaded();
  try {
    armFailpoints(settings);
  } catch (error) {
    if (!(error instanceof UnknownFailpointError)) throw error;
    sendError(
      res,
      400,
      'invalid_request',
      `unknown failpoint(s): ${error.names.join(', ')}`,
      error.names.map((name) => ({ field: name, message: 'no failpoint has this name' })),
    );
    return;
  }
  sendJson(res, 200, { failpoints: listFailpoints() });
}

async function advanceFromRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: LocalRoutesOptions,
): Promise<void> {
  const body = (await readJson(req)) as { seconds?: unknown } | undefined;
  const seconds = body?.seconds;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    sendError(res, 400, 'invalid_request', 'seconds must be a non-negative number', [
      { field: 'seconds', message: 'must be a non-negative number' },
    ]);
    return;
  }
  advanceSystemClock(seconds * 1000);
  await options.clockAdvanced?.(seconds);
  sendJson(res, 200, clockState());
}
