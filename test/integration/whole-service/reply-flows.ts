/**
 * The replies' flows of the alarms test (`alarms.test.ts`): replies created, sent, refused,
 * throttled, lost, echoed and raced through the real reply handlers on the WhatsApp simulator, so
 * every `Reply*` metric the code can emit is emitted with its declared dimensions and the reply
 * alarms' conditions are met. The alarms test hands in its own capturing helpers (each invocation's
 * EMF lines are what its checks read).
 *
 * A release (a channel's `findSent` reports the send absent: `settleUnknownOutcome` → `release`) has
 * no metric yet and so no flow: the deployed channels (`replies/deps.ts` `replyChannels`) are
 * WhatsApp Cloud alone, which has no `findSent` (`replies/reconcile.ts`).
 */
import { randomUUID } from 'node:crypto';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import * as inbound from '../conversations/inbound-support.js';

type HttpResult = Awaited<ReturnType<typeof inbound.invoke>>;
type HttpCall = Parameters<typeof inbound.invoke>[1];

export type ReplyHandler = 'postMessage' | 'retryMessage' | 'receiveWhatsApp';

export interface ReplyFlowHelpers {
  readonly simUrl: string;
  /** A messaging tenant (its number on the simulator), with an unknown-outcome policy. */
  tenant(options?: { unknownOutcome?: 'hold' | 'retry_once' }): Promise<ReplyTenant>;
  http(fn: ReplyHandler, call: HttpCall): Promise<HttpResult>;
  /** Drains the `replies` queue through the `sendReply` handler. */
  drainReplies(): Promise<unknown>;
  /** Runs the `reconcileReplies` schedule once. */
  reconcile(): Promise<unknown>;
  faults(body: Record<string, unknown>): Promise<void>;
  readonly clearFaults: Record<string, unknown>;
  withDynamoDb<T>(
    intercept: (command: unknown) => Promise<void> | void,
    work: () => Promise<T>,
  ): Promise<T>;
  /** Steps run once the clock has moved past every window (lease, reconcile). */
  readonly later: Array<() => Promise<void>>;
}

export interface ReplyTenant {
  readonly tenantId: string;
  readonly apiKey: string;
  readonly phoneNumberId: string;
}

const TEMPLATE = { name: 'spring_sale', language: 'en_US' };
const person = () => `+97253${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

export async function replyFlows(h: ReplyFlowHelpers): Promise<void> {
  const hold = await h.tenant();
  const retry = await h.tenant({ unknownOutcome: 'retry_once' });

  /** `POST /v1/messages` (a template: the person never wrote, no 24-hour window). */
  const reply = async (t: ReplyTenant, to: string, template = TEMPLATE): Promise<string> => {
    const answer = await h.http(
      'postMessage',
      inbound.apiCall(t.apiKey, {
        method: 'POST',
        routeKey: 'POST /v1/messages',
        path: '/v1/messages',
        headers: { 'idempotency-key': randomUUID() },
        body: { to: { phone: to }, template },
      }),
    );
    if (answer.status !== 202) throw new Error(`reply answered ${answer.status}: ${answer.text}`);
    return answer.json.messageId as string;
  };

  /** The wamid the WhatsApp simulator accepted for a reply (its id is the callback data). */
  const acceptedWamid = async (messageId: string): Promise<string | undefined> => {
    const out = (await (await fetch(`${h.simUrl}/_sim/whatsapp/messages`)).json()) as {
      messages: Array<{ wamid: string; bizOpaqueCallbackData?: string }>;
    };
    return out.messages.find((m) => m.bizOpaqueCallbackData === messageId)?.wamid;
  };
  const wamidOf = async (messageId: string): Promise<string> => {
    const wamid = await acceptedWamid(messageId);
    if (!wamid) throw new Error(`the simulator accepted nothing for reply ${messageId}`);
    return wamid;
  };

  /** The provider's echo of a sent message: the same wamid on the inbound webhook. */
  const echo = (t: ReplyTenant, wamid: string, to: string) =>
    h.http(
      'receiveWhatsApp',
      inbound.cloudCall(inbound.cloudText(t, { wamid, from: to.replace(/^\+/, '') })),
    );

  /** The record write of a reply: its provider id and the echo's item, in one transaction. */
  const isRecordOf = (command: unknown, messageId: string) =>
    command instanceof TransactWriteCommand &&
    JSON.stringify(command.input.TransactItems ?? []).includes(messageId) &&
    JSON.stringify(command.input.TransactItems ?? []).includes(':pmid');

  // ReplyCreated, ReplySent; a status naming the reply (ReplyStatusApplied); its echo
  // (ReplyEchoMatched).
  const sentTo = person();
  const sent = await reply(hold, sentTo);
  await h.drainReplies();
  const sentWamid = await wamidOf(sent);
  await h.http(
    'receiveWhatsApp',
    statusCall(hold, { wamid: sentWamid, status: 'delivered', to: sentTo, handle: sent }),
  );
  await echo(hold, sentWamid, sentTo);

  // ReplyFailed: the template does not exist (132001, permanent); then an operator's retry
  // (ReplyOperatorRetried).
  const failed = await reply(hold, person(), { name: 'missing_template', language: 'en_US' });
  await h.drainReplies();
  const retried = await h.http(
    'retryMessage',
    inbound.apiCall(hold.apiKey, {
      method: 'POST',
      routeKey: 'POST /v1/messages/{messageId}/retry',
      path: `/v1/messages/${failed}/retry`,
      pathParameters: { messageId: failed },
    }),
  );
  if (retried.status !== 202) throw new Error(`retry answered ${retried.status}: ${retried.text}`);
  await h.drainReplies();

  // ReplySendThrottled: one accepted send a second for the number, three replies at once (130429).
  await h.faults({ whatsapp: { rateLimitPerSecond: 1 } });
  for (let i = 0; i < 3; i++) await reply(hold, person());
  await h.drainReplies();
  await h.faults(h.clearFaults);

  // ReplySendOutcomeUnknown: answers lost after the provider accepted; past the window the hold
  // tenant's reply ends unknown (ReplyUnknownOutcomeHeld), the retry_once tenant's is sent once
  // more (ReplyUnknownOutcomeRetried).
  await h.faults({ whatsapp: { lostResponseRate: 1 } });
  await reply(hold, person());
  await reply(retry, person());
  await h.drainReplies();
  await h.faults(h.clearFaults);
  h.later.push(async () => {
    await h.reconcile();
    await h.drainReplies();
  });

  // ReplyEchoAdopted: the echo is filed between the provider's answer and the record write.
  const adoptTo = person();
  const adopted = await reply(hold, adoptTo);
  let echoed = false;
  await h.withDynamoDb(
    async (command) => {
      if (echoed || !isRecordOf(command, adopted)) return;
      echoed = true;
      await echo(hold, await wamidOf(adopted), adoptTo);
    },
    () => h.drainReplies(),
  );
  if (!echoed) throw new Error('the adopted reply was never recorded');

  // ReplyProviderIdConflict: while the send is in flight, a status names the reply with another
  // wamid (the provider sent it twice), and is applied first.
  const twinTo = person();
  const twin = await reply(hold, twinTo);
  let raced = false;
  await h.withDynamoDb(
    async (command) => {
      if (raced || !isRecordOf(command, twin)) return;
      raced = true;
      await h.http(
        'receiveWhatsApp',
        statusCall(hold, {
          wamid: `wamid.${randomUUID()}`,
          status: 'sent',
          to: twinTo,
          handle: twin,
        }),
      );
    },
    () => h.drainReplies(),
  );
  if (!raced) throw new Error('the twin reply was never recorded');
}

/** A WhatsApp Cloud status webhook whose callback data is the reply id (the correlation handle). */
function statusCall(
  t: { phoneNumberId: string },
  s: { wamid: string; status: string; to: string; handle: string },
): HttpCall {
  return inbound.cloudStatusCall(t.phoneNumberId, {
    ...s,
    timestampMs: Date.now(),
    callbackData: s.handle,
  });
}
