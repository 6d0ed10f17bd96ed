/**
 * Reply flows of the crash matrix: four replies of one conversation from the operator's POST to
 * `sent`, with every `reply.*` failpoint armed once in turn, driven to the end by the reply driver
 * (`reply-driver.ts`: the operator's POST and retry repeated, the doorbell redelivered, the
 * reconcile schedule run, the clock jumped past leases and the reconcile window). The provider's
 * status webhooks (echoing the reply id) are delivered each round. The tenant's policy is
 * `retry_once`, so the release path of the reconcile sweep is crossed.
 *
 * - `plain`: sent at the first call.
 * - `refused`: the first call refused as transient (nothing sent): requeued, sent again.
 * - `lost`: the first call never reaches the provider but its answer is "lost" (unknown): after the
 *   window, retried once — the provider has it once.
 * - `failed`: the first call refused permanently: `failed`, then an operator's retry sends it.
 *
 * Invariants (the driver's): the provider holds exactly one accepted send per reply (matched by the
 * reply id it echoes), each reply is `sent` (or further) with that send's id, and the conversation
 * lists each reply once.
 */
import { startWhatsAppSimulator } from '../integration/campaigns/campaign-support.js';
import { simChannel } from '../integration/replies/replies-support.js';
import type { CrashFlow } from './flow.js';
import {
  crashReplyWorld,
  driveReplyFlow,
  OPERATOR_REPLY_FAILPOINTS,
  operatorReplies,
  refusal,
  scriptedFirstCall,
  whatsappCloudProvider,
} from './reply-driver.js';

const KINDS = ['plain', 'refused', 'lost', 'failed'] as const;

let simUrl: Promise<string> | undefined;
function simulator(): Promise<string> {
  simUrl ??= startWhatsAppSimulator('crash-replies').then((sim) => sim.url);
  return simUrl;
}

async function runReplies(point: string): Promise<void> {
  const url = await simulator();
  const world = await crashReplyWorld('cm-replies');
  const { kindOf, parts } = operatorReplies(world, KINDS, (kind) => ({
    request: { body: `reply ${kind}` },
    channels: { whatsapp: world.tenant.phoneNumberId },
  }));
  const channel = scriptedFirstCall(simChannel(url), async (send) => {
    const kind = kindOf.get(send.messageId);
    if (kind === 'refused') return refusal(true, 500, '131000', 'transient');
    if (kind === 'failed') return refusal(false, 400, '131026', 'undeliverable');
    if (kind === 'lost') return { kind: 'unknown', reason: 'ECONNRESET' };
    return undefined;
  });

  await driveReplyFlow(point, {
    world,
    channel,
    ...parts,
    // The provider's record and status webhooks, echoing the reply id.
    ...whatsappCloudProvider(url, world, (replyId) => kindOf.has(replyId)),
  });
}

const flows: CrashFlow[] = [
  {
    name: 'reply',
    failpoints: OPERATOR_REPLY_FAILPOINTS,
    run: runReplies,
  },
];
export default flows;
