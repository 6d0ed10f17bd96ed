/**
 * Reply flows of the crash matrix over the two channels that take no client id: WhatsApp Web
 * through the tenant's Evolution instance and SMS through GoHighLevel, each against its simulator
 * (`lib/local/sim/evolution.ts`, `ghl.ts`). Every `reply.*` failpoint is armed once in turn and the
 * flow is driven to the end as production would after a crash (the shared crash driver: the
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
 * Invariants: the provider accepted each reply exactly once (matched by its unique text: neither
 * provider carries onceflow's id), each reply is `sent` with that send's id, and the conversation
 * lists each reply once.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDbConversationStore } from '../../functions/conversations/index.js';
import { ddb } from '../../functions/kernel/clients.js';
import { tableName } from '../../functions/kernel/config.js';
import { armOnce, firedCount } from '../../functions/kernel/failpoints.js';
import type { ReplyChannel } from '../../functions/replies/channel.js';
import { createEvolutionChannel } from '../../functions/replies/channels/evolution.js';
import { createGhlChannel } from '../../functions/replies/channels/ghl.js';
import { replyIdFor } from '../../functions/replies/items.js';
import { FP_RECONCILE_AFTER_REQUEUE, reconcileReplies } from '../../functions/replies/reconcile.js';
import {
  createReply,
  FP_CREATE_AFTER_STORED,
  FP_RETRY_AFTER_REQUEUED,
  retryReply,
} from '../../functions/replies/reply-store.js';
import {
  FP_SEND_AFTER_ACCEPTED,
  FP_SEND_AFTER_CLAIM,
  FP_SEND_AFTER_REJECTED,
  FP_SEND_AFTER_STORED,
  sendReply,
} from '../../functions/replies/sender.js';
import { listen } from '../../lib/local/http-util.js';
import { evolutionSimulator } from '../../lib/local/sim/evolution.js';
import { ghlSimulator } from '../../lib/local/sim/ghl.js';
import { createSimulatorServer } from '../../lib/local/simulators.js';
import { privateFifoQueue } from '../integration/campaigns/campaign-support.js';
import { invoke, tokenCall } from '../integration/conversations/inbound-support.js';
import {
  reconcileDeps,
  replyOf,
  replyWorld,
  senderDeps,
} from '../integration/replies/replies-support.js';
import { drainQueue, untilItLands } from './crash-driver.js';
import type { CrashFlow } from './flow.js';

const MAX_ROUNDS = 10;
const DONE = new Set(['sent', 'delivered', 'read']);
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

function fail(message: string): never {
  throw new Error(message);
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
  const base = await replyWorld();
  const queueUrl = await privateFifoQueue('cm-replies-evo-ghl', {
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 50,
  });
  const world = { ...base, replies: { ...base.replies, queueUrl } };
  const tenantId = world.tenant.tenantId;
  const account = provider === 'sms' ? world.tenant.locationId : world.tenant.instance;
  const run = randomUUID().slice(0, 8);
  const ids = Object.fromEntries(
    KINDS.map((kind) => [kind, replyIdFor(tenantId, `${kind}-${run}`)]),
  ) as Record<Kind, string>;
  const bodyOf = (kind: Kind) => `reply ${kind} ${run}`;
  const kindOf = new Map(KINDS.map((kind) => [ids[kind], kind]));
  const real =
    provider === 'sms'
      ? createGhlChannel({ baseUrl: url, token: async () => 'location-token' })
      : createEvolutionChannel({
          credentials: async () => ({ baseUrl: url, apiKey: 'instance-key' }),
          guard: async () => {},
        });
  const firstCall = new Set<string>();
  const channel: ReplyChannel = {
    name: provider,
    ...(real.findSent ? { findSent: real.findSent } : {}),
    async send(send) {
      const first = !firstCall.has(send.messageId);
      firstCall.add(send.messageId);
      const kind = kindOf.get(send.messageId);
      if (first && kind === 'refused') {
        return {
          kind: 'rejected',
          retry: true,
          httpStatus: 500,
          code: '500',
          message: 'transient',
        };
      }
      if (first && kind === 'failed') {
        return { kind: 'rejected', retry: false, httpStatus: 400, code: '400', message: 'bad' };
      }
      if (first && kind === 'lostBefore') return { kind: 'unknown', reason: 'ECONNRESET' };
      if (first && kind === 'lostAfter') {
        const result = await real.send(send);
        return result.kind === 'accepted' ? { kind: 'unknown', reason: 'UND_ERR_SOCKET' } : result;
      }
      return real.send(send);
    },
  };
  const { handler: receiveWeb } = await import(
    '../../functions/webhooks/handlers/receive-whatsapp-web.js'
  );
  const echoed = new Set<string>();
  /** Evolution posts each accepted message's `fromMe` upsert (GHL's OutboundMessage goes to no route). */
  const deliverEchoes = async () => {
    if (provider !== 'whatsapp_web') return;
    for (const sent of await accepted(url, provider, account)) {
      if (echoed.has(sent.id)) continue;
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
      echoed.add(sent.id);
    }
  };

  armOnce(point);
  const operatorRetried = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    for (const kind of KINDS) {
      await untilItLands(() =>
        createReply(world.replies, {
          tenantId,
          conversationId: world.conversationId,
          messageId: ids[kind],
          request: { body: bodyOf(kind), channel: provider },
          channels: { [provider]: account },
        }),
      );
    }
    await drainQueue(queueUrl, 'ReplyRetryError', async (body) => {
      await sendReply(
        { ...senderDeps(world, channel), inlineRetries: 0 },
        body as { tenantId: string; messageId: string },
      );
    });
    await deliverEchoes();
    const failed = await replyOf(ids.failed);
    if (failed?.status === 'failed' && !operatorRetried.has(ids.failed)) {
      await untilItLands(async () => {
        try {
          await retryReply(world.replies, tenantId, ids.failed);
        } catch (error) {
          if ((error as { status?: number }).status !== 409) throw error;
        }
      });
      operatorRetried.add(ids.failed);
    }
    const states = await Promise.all(KINDS.map((kind) => replyOf(ids[kind])));
    if (states.every((r) => r && DONE.has(r.status))) break;
    await untilItLands(() => reconcileReplies(reconcileDeps(world, channel, 'retry_once')));
    world.clock.advance(700_000);
  }

  if (firedCount(point) !== 1) fail(`${point} fired ${firedCount(point)} times, expected 1`);
  const sends = await accepted(url, provider, account);
  for (const kind of KINDS) {
    const mine = sends.filter((s) => s.text === bodyOf(kind));
    if (mine.length !== 1) fail(`reply ${kind} was accepted ${mine.length} times, expected once`);
    const reply = await replyOf(ids[kind]);
    if (!reply || !DONE.has(reply.status)) fail(`reply ${kind} ended ${reply?.status}`);
    if (reply.providerMessageId !== mine[0]?.id) fail(`reply ${kind} holds another provider id`);
  }
  const store = new DynamoDbConversationStore(ddb, tableName('inbound'));
  const outs = (await store.listMessages(world.conversationId, { limit: 200 })).messages.filter(
    (m) => m.direction === 'out',
  );
  if (outs.length !== KINDS.length) {
    fail(`the thread lists ${outs.length} outbound messages, expected ${KINDS.length}`);
  }
}

const FAILPOINTS = [
  FP_CREATE_AFTER_STORED,
  FP_SEND_AFTER_CLAIM,
  FP_SEND_AFTER_ACCEPTED,
  FP_SEND_AFTER_STORED,
  FP_SEND_AFTER_REJECTED,
  FP_RETRY_AFTER_REQUEUED,
  FP_RECONCILE_AFTER_REQUEUE,
];

const flows: CrashFlow[] = [
  {
    name: 'reply on WhatsApp Web (Evolution)',
    failpoints: FAILPOINTS,
    run: (point) => runChannelReplies('whatsapp_web', point),
  },
  {
    name: 'reply by SMS (GoHighLevel)',
    failpoints: FAILPOINTS,
    run: (point) => runChannelReplies('sms', point),
  },
];
export default flows;
