/**
 * The provider simulators served on SIM_PORT. Each provider lives in its own file in this folder
 * and exports a `SimulatorFactory`; add it to `simulatorFactories` below and it is served.
 *
 *   // lib/local/sim/whatsapp.ts
 *   export const whatsappSimulator: SimulatorFactory = (context) => ({
 *     name: 'whatsapp',                      // the key in PUT /_sim/faults
 *     async handle(req, res, url) {          // true when this module answered the request
 *       if (!/^\/v[\d.]+\/\d+\/messages$/.test(url.pathname)) return false;
 *       ...; return true;
 *     },
 *     reset() {...}, setFaults(faults) {...}, clearFaults() {...},
 *   });
 *
 * Helpers for bodies and JSON answers: `../http-util.ts` (`readJson`, `sendJson`, `sendError`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { evolutionSimulator } from './evolution.js';
import { ghlSimulator } from './ghl.js';
import { googleAdsSimulator } from './google-ads.js';
import { openaiSimulator } from './openai.js';
import { receiverSimulator } from './receiver.js';
import { unipileSimulator } from './unipile.js';
import { whatsappSimulator } from './whatsapp.js';

export interface SimulatorContext {
  /** Base URL of the onceflow API (`ONCEFLOW_API_BASE_URL`), for status webhooks. */
  readonly apiBaseUrl: string;
  /** Base URL of this simulator server. */
  readonly simBaseUrl: string;
  /** Reads a setting the way handlers do (e.g. `WHATSAPP_APP_SECRET` to sign webhooks). */
  readonly env: (name: string) => string | undefined;
  /** One line to the runtime's console. */
  readonly log: (line: string) => void;
}

export interface SimulatorModule {
  /** Short name, also the key of this module's settings in `PUT /_sim/faults`. */
  readonly name: string;
  /** Answers the request and returns true, or returns false to let the next module try. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** `POST /_sim/reset`: forget every ledger. */
  reset?(): void | Promise<void>;
  /**
   * `PUT /_sim/faults`: this module's part of the body, merged into what is armed (`null` clears
   * it); validate it and throw to refuse. `faults.ts` `FaultStore` does all of it.
   */
  setFaults?(faults: unknown): void | Promise<void>;
  /** `DELETE /_sim/faults`. */
  clearFaults?(): void | Promise<void>;
  /** `GET /_sim/faults`: only the settings that are armed (differ from the defaults). */
  getFaults?(): Record<string, unknown>;
  /** Called on runtime stop: cancel pending timers (e.g. delayed status webhooks). */
  close?(): void | Promise<void>;
}

export type SimulatorFactory = (context: SimulatorContext) => SimulatorModule;

/** Every provider simulator, in the order they are asked. */
export const simulatorFactories: SimulatorFactory[] = [
  openaiSimulator,
  whatsappSimulator,
  googleAdsSimulator,
  unipileSimulator,
  evolutionSimulator,
  ghlSimulator,
  receiverSimulator,
];
