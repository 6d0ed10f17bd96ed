/**
 * The events-out flows of the alarms test: endpoints registered through the real
 * `PUT /v1/event-endpoints/{endpointId}` handler (the SSRF guard checks each URL), events handed to
 * the production dispatcher (`endpointDispatcher()`, the sink the change feed hands its events
 * to), and the `eventDeliveries` queue worked by the real `deliver-events` handler against the
 * receiver simulator over HTTP:
 *
 * - `ok` answers 200: EventDelivered, EventDeliveryAgeMs.
 * - `gone` answers 410: EventAttemptFailed, EventDeliveryFailed (a 410 is final) and
 *   EventEndpointDisabled (its `endpoint.disabled` goes to the other endpoints).
 * - `rebind` is a host that resolved to loopback when registered and to the metadata address at
 *   delivery (DNS rebinding, through the resolver seam `dnsResolver.resolve`): EventTargetRefused.
 *
 * Loaded by the alarms test after it provisioned its private world (these modules read the
 * environment when they load).
 */
import { randomUUID } from 'node:crypto';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { vi } from 'vitest';
import { endpointDispatcher } from '../../../functions/events/deps.js';
import type { OnceflowEvent } from '../../../functions/events/model.js';
import { sqs } from '../../../functions/kernel/clients.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { queueUrl } from '../../../functions/kernel/config.js';
import { dnsResolver } from '../../../functions/kernel/ssrf.js';
import * as inbound from '../conversations/inbound-support.js';

export interface EventFlowDrivers {
  /** Where the simulators (the receiver among them) listen. */
  readonly simUrl: string;
  /** The `put-endpoint` handler, captured. */
  readonly putEndpoint: (call: inbound.HttpCall) => Promise<inbound.HttpResult>;
  /** The `deliver-events` handler, captured. */
  readonly deliverEvents: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
}

export async function eventFlows(d: EventFlowDrivers): Promise<void> {
  // The local runtime's value (the manifest's `ONCEFLOW_EVENTS_LOOPBACK_HTTP`): the receiver
  // simulator is plain http on loopback. Read when the worker builds its dependencies.
  process.env.ONCEFLOW_EVENTS_LOOPBACK_HTTP = 'on';
  const t = await inbound.createTenant('IL');
  const suffix = randomUUID().slice(0, 8);
  const names = { ok: `ok-${suffix}`, gone: `gone-${suffix}`, rebind: `rebind-${suffix}` };
  const port = new URL(d.simUrl).port;
  const rebindHost = `rebind-${suffix}.alarms.test`;
  let rebound = false;
  const realResolve = dnsResolver.resolve.bind(dnsResolver);
  const dns = vi.spyOn(dnsResolver, 'resolve').mockImplementation(async (host) => {
    if (host !== rebindHost) return realResolve(host);
    return [{ address: rebound ? '169.254.169.254' : '127.0.0.1', family: 4 }];
  });
  try {
    const register = async (name: string, url: string) => {
      const answer = await d.putEndpoint(
        inbound.apiCall(t.apiKey, {
          method: 'PUT',
          routeKey: 'PUT /v1/event-endpoints/{endpointId}',
          path: `/v1/event-endpoints/${name}`,
          pathParameters: { endpointId: name },
          body: { url, eventTypes: ['*'] },
        }),
      );
      if (answer.status !== 200) throw new Error(`put endpoint ${answer.status}: ${answer.text}`);
    };
    await register(names.ok, `${d.simUrl}/_sim/receiver/${names.ok}`);
    await register(names.gone, `${d.simUrl}/_sim/receiver/${names.gone}`);
    await register(names.rebind, `http://${rebindHost}:${port}/_sim/receiver/${names.rebind}`);
    const behave = await fetch(`${d.simUrl}/_sim/receiver/${names.gone}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 410 }),
    });
    if (behave.status !== 200) throw new Error('the receiver refused its behaviour');
    rebound = true;

    const event: OnceflowEvent = {
      eventId: `evt_${randomUUID().replaceAll('-', '')}`,
      tenantId: t.tenantId,
      type: 'message.received',
      entityKey: `conversation:c_${suffix}`,
      occurredAt: new Date(systemClock.now() - 1_000).toISOString(),
      data: { tenantId: t.tenantId, conversationId: `c_${suffix}`, messageId: `m_${suffix}` },
    };
    const { failed } = await endpointDispatcher().accept([event]);
    if (failed.length > 0) throw new Error('the dispatcher did not take the event');
    // The worker holds `rebind`'s retry (5 s) in the queue: drained until nothing more is visible.
    await inbound.drainQueue(sqs, queueUrl('eventDeliveries'), d.deliverEvents);
  } finally {
    dns.mockRestore();
  }
}
