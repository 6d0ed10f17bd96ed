/**
 * An event receiver, so the event pipeline is tested against a real HTTP endpoint (api.md, "Local
 * runtime only"). Every request is recorded with its Standard Webhooks headers and its raw body (a
 * test verifies the signature over exactly the bytes sent), and with the status it was answered.
 *
 * - `POST /_sim/receiver/{name}`: a delivery; answered with the receiver's `status` (default 200),
 *   after `latencyMs`, or with a failure (`status` when it is not 2xx, else 500) at `failRate`.
 * - `GET /_sim/receiver/{name}` → `{"deliveries": [{id, timestamp, signature, contentType, body,
 *   answered, receivedAt}]}` in arrival order.
 * - `PUT /_sim/receiver/{name}` `{"status", "latencyMs", "failRate"}` sets its behaviour;
 *   `POST /_sim/reset` forgets every receiver.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from 'zod';
import { readBody, readJson, sendError, sendJson } from '../http-util.js';
import type { SimulatorFactory } from './index.js';

export interface ReceivedDelivery {
  readonly id: string | null;
  readonly timestamp: string | null;
  readonly signature: string | null;
  readonly contentType: string | null;
  readonly body: string;
  /** The status this delivery was answered with. */
  readonly answered: number;
  readonly receivedAt: string;
}

const behaviourSchema = z.strictObject({
  status: z.number().int().min(200).max(599).default(200),
  latencyMs: z.number().int().min(0).max(60_000).default(0),
  failRate: z.number().min(0).max(1).default(0),
});
type Behaviour = z.output<typeof behaviourSchema>;

const PATH = /^\/_sim\/receiver\/([A-Za-z0-9_.-]{1,64})$/;

export const receiverSimulator: SimulatorFactory = () => {
  const receivers = new Map<string, { behaviour: Behaviour; deliveries: ReceivedDelivery[] }>();
  const receiver = (name: string) => {
    let found = receivers.get(name);
    if (!found) {
      found = { behaviour: behaviourSchema.parse({}), deliveries: [] };
      receivers.set(name, found);
    }
    return found;
  };
  const header = (req: IncomingMessage, name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : null;
  };
  async function receive(req: IncomingMessage, res: ServerResponse, name: string) {
    const { behaviour, deliveries } = receiver(name);
    const body = (await readBody(req)).toString('utf8');
    const failing = behaviour.failRate > 0 && Math.random() < behaviour.failRate;
    const answered = failing
      ? behaviour.status >= 300
        ? behaviour.status
        : 500
      : behaviour.status;
    if (behaviour.latencyMs > 0) await new Promise((r) => setTimeout(r, behaviour.latencyMs));
    deliveries.push({
      id: header(req, 'webhook-id'),
      timestamp: header(req, 'webhook-timestamp'),
      signature: header(req, 'webhook-signature'),
      contentType: header(req, 'content-type'),
      body,
      answered,
      receivedAt: new Date().toISOString(),
    });
    sendJson(
      res,
      answered,
      answered < 300 ? { received: true } : { error: 'receiver told to fail' },
    );
  }
  return {
    name: 'receiver',
    async handle(req, res, url) {
      const match = PATH.exec(url.pathname);
      if (!match?.[1]) return false;
      const name = match[1];
      if (req.method === 'POST') await receive(req, res, name);
      else if (req.method === 'GET') sendJson(res, 200, { deliveries: receiver(name).deliveries });
      else if (req.method === 'PUT') {
        const parsed = behaviourSchema.safeParse((await readJson(req)) ?? {});
        if (!parsed.success) {
          sendError(res, 400, 'invalid_request', 'The receiver behaviour is not valid.');
        } else {
          receiver(name).behaviour = parsed.data;
          sendJson(res, 200, parsed.data);
        }
      } else sendError(res, 405, 'method_not_allowed', 'POST, GET or PUT.');
      return true;
    },
    reset() {
      receivers.clear();
    },
  };
};
