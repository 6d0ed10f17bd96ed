/**
 * Reply flows of the crash matrix over the two channels that take no client id: WhatsApp Web
 * through the tenant's Evolution instance and SMS through GoHighLevel, each against its simulator
 * (`lib/local/sim/evolution.ts`, `ghl.ts`). Every `reply.*` failpoint is armed once in turn and the
 * flow is driven to the end as production would after a crash (the reply driver: the
 * operator's POST and retry repeated, the doorbell redelivered, the reconcile schedule run, the clock
 * jumped past leases and the reconcile window). The tenant's policy is `retry_once`.
 *
 * Five replies a run, their first call:
 * - `plain`: sent.
 * - `refused`: refused as transient (nothing sent): requeued, sent again.
 * - `lostBefore`: never reached the provider, answer "lost": the provider's record shows nothing,
 *   so the reconcile releases it and it is sent once.
 * - `lostAfter`: reached the provider, whose answer was lost: the reconcile finds it in the
 *   provider's record (Evolution `findMessages`, GHL's conversation messages) and records that id;
 *   it is never sent again.
 * - `failed`: refused permanently: `failed`, then an operator's retry sends it.
 * On WhatsApp Web the instance's `fromMe` upsert of every accepted message goes through the real
 * `POST /webhooks/whatsapp-web` handler each round (as Evolution posts it), racing nothing but
 * arriving at any point of the flow.
 *
 * Invariants (the reply driver's, `reply-driver.ts`): the provider accepted each reply exactly once
 * (matched by its unique text: neither provider carries onceflow's id), each reply is `sent` with
 * that send's id, and the conversation lists each reply once.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEvolutionChannel } from '../../functions/replies/channels/evolution.js';
import { createGhlChannel } from '../../functions/replies/channels/ghl.js';
import { listen } from '../../lib/local/http-util.js';
import { evolutionSimulator } from '../../lib/local/sim/evolution.js';
import { ghlSimulator } from '../../lib/local/sim/ghl.js';
import { createSimulatorServer } from '../../lib/local/simulators.js';
import { invoke, tokenCall } from '../integration/conversations/inbound-support.js';
import { untilItLands } from './crash-driver.js';
import type { CrashFlow } from './flow.js';
import {
  crashReplyWorld,
  driveReplyFlow,
  fail,
  OPERATOR_REPLY_FAILPOINTS,
  operatorReplies,
  refusal,
  scriptedFirstCall,
} from './reply-driver.js';

const KINDS = ['plain', 'refused', 'lostBefore', 'lostAfter', 'failed'] as const;
type Kind = (typeof KINDS)[number];
type Provider = 'whatsapp_web' | 'sms';

let simUrl: Promise<string> | undefined;
/** One simulator server for the worker (no webhook is set: the flow posts the echoes itself). */
function simulator(): Promise<string> {
  simUrl ??= (async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-cm-evo-ghl-'));
    const sim = createSimulatorServer({
      context: {
        apiBaseUrl: 'http://127.0.0.1:9',
        simBaseUrl: '',
        env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? dataDir : undefined),
        log: () => {},
      },
      factories: [evolutionSimulator, ghlSimulator],
    });
    sim.server.unref();
    return `http://127.0.0.1:${await listen(sim.server, 0, '127.0.0.1')}`;
  })();
  return simUrl;
}

interface Accepted {
  readonly id: string;
  readonly text: string;
  readonly remoteJid?: string;
  readonly messageTimestamp?: number;
}

async function accepted(url: string, provider: Provider, account: string): Promise<Accepted[]> {
  if (provider === 'whatsapp_web') {
    const out = (await (await fetch(`${url}/_sim/evolution/messages`)).json()) as {
      messages: Array<Accepted & { instance: string }>;
    };
    return out.messages.filter((m) => m.instance === account);
  }
  const out = (await (await fetch(`${url}/_sim/ghl/messages`)).json()) as {
    messages: Array<{ locationId: string; messageId: string; body: string }>;
  };
  return out.messages
    .filter((m) => m.locationId === account)
    .map((m) => ({ id: m.messageId, text: m.body }));
}

async function runChannelReplies(provider: Provider, point: string): Promise<void> {
  const url = await simulator();
  const world = await crashReplyWorld('cm-replies-evo-ghl');
  const account = provider === 'sms' ? world.tenant.locationId : world.tenant.instance;
  const run = randomUUID().slice(0, 8);
  const bodyOf = (kind: Kind) => `reply ${kind} ${run}`;
  const { kindOf, parts } = operatorReplies(world, KINDS, (kind) => ({
    request: { body: bodyOf(kind), channel: provider },
    channels: { [provider]: account },
  }));
  const real =
    provider === 'sms'
      ? createGhlChannel({ baseUrl: url, token: async () => 'location-token' })
      : createEvolutionChannel({
          credentials: async () => ({ baseUrl: url, apiKey: 'instance-key' }),
          guard: async () => {},
        });
  const channel = scriptedFirstCall(real, async (send) => {
    const kind = kindOf.get(send.messageId);
    if (kind === 'refused') return refusal(true, 500, '500', 'transient');
    if (kind === 'failed') return refusal(false, 400, '400', 'bad');
    if (kind === 'lostBefore') return { kind: 'unknown', reason: 'ECONNRESET' };
    if (kind === 'lostAfter') {
      const result = await real.send(send);
      return result.kind === 'accepted' ? { kind: 'unknown', reason: 'UND_ERR_SOCKET' } : result;
    }
    return undefined;
  });
  const { handler: receiveWeb } = await import(
    '../../functions/webhooks/handlers/receive-whatsapp-web.js'
  );
  /** Evolution posts each accepted message's `fromMe` upsert (GHL's OutboundMessage goes to no route). */
  const postEcho = async (sent: Accepted) => {
    const body = JSON.stringify({
      event: 'messages.upsert',
      instance: account,
      data: {
        key: { remoteJid: sent.remoteJid, fromMe: true, id: sent.id },
        message: { conversation: sent.text },
        messageTimestamp: sent.messageTimestamp,
      },
    });
    const answer = await untilItLands(() =>
      invoke(receiveWeb, tokenCall('/webhooks/whatsapp-web', body, world.tenant.webhookToken)),
    );
    if (answer.status !== 200) fail(`the echo was answered ${answer.status}`);
  };

  await driveReplyFlow<Accepted>(point, {
    world,
    channel,
    ...parts,
    sends: () => accepted(url, provider, account),
    sendId: (send) => send.id,
    // Neither provider carries onceflow's id: a send is matched by its reply's unique text.
    isSendOf: (send, replyId) => {
      const kind = kindOf.get(replyId);
      return kind !== undefined && send.text === bodyOf(kind);
    },
    ...(provider === 'whatsapp_web' ? { deliver: postEcho } : {}),
  });
}

const flows: CrashFlow[] = [
  {
    name: 'reply on WhatsApp Web (Evolution)',
    failpoints: OPERATOR_REPLY_FAILPOINTS,
    run: (point) => runChannelReplies('whatsapp_web', point),
  },
  {
    name: 'reply by SMS (GoHighLevel)',
    failpoints: OPERATOR_REPLY_FAILPOINTS,
    run: (point) => runChannelReplies('sms', point),
  },
];
export default flows;
