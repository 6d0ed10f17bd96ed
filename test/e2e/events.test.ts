/**
 * Events out end to end on the local runtime as `npm start` runs it: an endpoint registered over
 * HTTP at the receiver simulator, `OnceflowEvent`s written through the delivery half's sink (the
 * change feed is the other half), and the runtime's own queue worker (the `deliverEvents` function,
 * its bundle, its grants) posting them to the receiver, where the reference `standardwebhooks`
 * library verifies every delivery.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryMessage } from '../../functions/events/deps.js';
import { createEndpointDispatcher } from '../../functions/events/dispatch.js';
import { DynamoEventsStore } from '../../functions/events/events-store.js';
import { systemClock } from '../../functions/kernel/clock.js';
import { enqueueFifo } from '../../functions/kernel/fifo.js';
import { localDynamoDbClient, localSqsClient } from '../../lib/local/provision.js';
import type { ReceivedDelivery } from '../../lib/local/sim/receiver.js';
import { callJson } from '../support/http-client.js';
import { type SpawnedRuntime, spawnLocalRuntime } from '../support/local-runtime.js';
import { pollUntil } from '../support/poll.js';

let runtime: SpawnedRuntime;
const ADMIN = 'e2e-admin-key';

beforeAll(async () => {
  // A loaded machine (several test runs at once) can take longer than the default 40 s to start.
  runtime = await spawnLocalRuntime({
    env: { ONCEFLOW_ADMIN_KEY: ADMIN },
    readyTimeoutMs: 120_000,
  });
});
afterAll(async () => {
  await runtime?.stop();
});

const call = (method: string, path: string, token: string, body?: unknown) =>
  callJson(`${runtime.apiUrl}${path}`, method, { token, ...(body !== undefined ? { body } : {}) });

describe('events out on the local runtime', () => {
  it('events written through the sink reach the receiver through the queue worker, signed, in order', async () => {
    const tenantId = `e2e-ev-${randomUUID().slice(0, 8)}`;
    expect(
      (
        await call('PUT', `/v1/tenants/${tenantId}`, ADMIN, {
          name: 'Events',
          defaultCountry: 'IL',
        })
      ).status,
    ).toBe(200);
    const { apiKey } = (await call('POST', `/v1/tenants/${tenantId}/credentials`, ADMIN)).json as {
      apiKey: string;
    };
    const name = `rcv-${tenantId}`;

    const refused = await call('PUT', '/v1/event-endpoints/meta', apiKey, {
      url: 'https://169.254.169.254/latest/meta-data/',
      eventTypes: ['*'],
    });
    expect(refused.status).toBe(400);
    const created = await call('PUT', `/v1/event-endpoints/${name}`, apiKey, {
      url: `${runtime.simUrl}/_sim/receiver/${name}`,
      eventTypes: ['message.received', 'message.sent'],
    });
    expect(created.status).toBe(200);
    const { secret } = created.json as { secret: string };

    const sqs = localSqsClient(runtime.sqsUrl);
    const queueUrl = `${runtime.sqsUrl}/000000000000/onceflow-eventDeliveries.fifo`;
    const sink = createEndpointDispatcher({
      store: new DynamoEventsStore(
        DynamoDBDocumentClient.from(localDynamoDbClient(runtime.dynamodbUrl)),
        'onceflow-events',
      ),
      bell: {
        ring: (refs) =>
          enqueueFifo(
            sqs,
            queueUrl,
            refs.map((ref) => deliveryMessage(ref)),
          ),
      },
      clock: systemClock,
    });
    const events = Array.from({ length: 5 }, (_, seq) => ({
      eventId: `evt_${randomUUID().replaceAll('-', '')}`,
      tenantId,
      type: seq % 2 === 0 ? ('message.received' as const) : ('message.sent' as const),
      entityKey: 'conversation:c_e2e',
      occurredAt: new Date(Date.now() - 60_000 + seq).toISOString(),
      data: { tenantId, conversationId: 'c_e2e', messageId: `m_${seq}`, seq },
    }));
    expect(await sink.accept(events)).toEqual({ failed: [] });

    const seen = await pollUntil(
      async () => {
        const res = await fetch(`${runtime.simUrl}/_sim/receiver/${name}`);
        const { deliveries } = (await res.json()) as { deliveries: ReceivedDelivery[] };
        return deliveries.length >= events.length ? deliveries : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(seen.map((d) => d.id)).toEqual(events.map((e) => e.eventId));
    const webhook = new Webhook(secret);
    for (const d of seen) {
      const body = webhook.verify(d.body, {
        'webhook-id': d.id ?? '',
        'webhook-timestamp': d.timestamp ?? '',
        'webhook-signature': d.signature ?? '',
      }) as { data: { seq: number } };
      expect(body.data.seq).toBe(seen.indexOf(d));
    }
    const attempts = await pollUntil(async () => {
      const answer = await call(
        'GET',
        `/v1/event-endpoints/${name}/attempts?status=delivered`,
        apiKey,
      );
      const list = (answer.json as { attempts: unknown[] }).attempts;
      return list.length === events.length ? list : undefined;
    });
    expect(attempts).toHaveLength(events.length);
  });

  it('a committed effect (an inbound SMS filed) reaches the receiver once, through the change feed, signed, with its stable id', async () => {
    const tenantId = `e2e-cf-${randomUUID().slice(0, 8)}`;
    const locationId = `loc-${tenantId}`;
    expect(
      (
        await call('PUT', `/v1/tenants/${tenantId}`, ADMIN, {
          name: 'Feed',
          defaultCountry: 'IL',
          ghl: { locationIds: [locationId] },
        })
      ).status,
    ).toBe(200);
    const { apiKey, webhookToken } = (
      await call('POST', `/v1/tenants/${tenantId}/credentials`, ADMIN)
    ).json as { apiKey: string; webhookToken: string };
    const name = `feed-${tenantId}`;
    const created = await call('PUT', `/v1/event-endpoints/${name}`, apiKey, {
      url: `${runtime.simUrl}/_sim/receiver/${name}`,
      eventTypes: ['message.received'],
    });
    expect(created.status).toBe(200);
    const { secret } = created.json as { secret: string };

    // The effect: the platform's GHL workflow posts an inbound SMS, twice (a redelivery).
    const sms = {
      contact_id: 'c-feed',
      phone: '050-123-4567',
      date_created: '2026-12-07T01:00:00.000Z',
      location: { id: locationId },
      workflow: { id: 'wf-feed' },
      message: { type: 2, body: 'hello from the feed test' },
    };
    const post = () =>
      callJson(
        `${runtime.apiUrl}/webhooks/ghl/sms?token=${encodeURIComponent(webhookToken)}`,
        'POST',
        { body: sms },
      );
    const first = await post();
    const again = await post();
    expect(first.status).toBe(200);
    expect(again.json).toMatchObject({ deduped: true });
    const { messageId } = first.json as { messageId: string };

    // Nothing but the stream of the filed message carries it to the endpoint.
    const seen = await pollUntil(
      async () => {
        const res = await fetch(`${runtime.simUrl}/_sim/receiver/${name}`);
        const { deliveries } = (await res.json()) as { deliveries: ReceivedDelivery[] };
        return deliveries.length > 0 ? deliveries : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const [delivery] = seen;
    const body = new Webhook(secret).verify(delivery?.body ?? '', {
      'webhook-id': delivery?.id ?? '',
      'webhook-timestamp': delivery?.timestamp ?? '',
      'webhook-signature': delivery?.signature ?? '',
    }) as { type: string; data: Record<string, unknown> };
    expect(body.type).toBe('message.received');
    expect(body.data).toMatchObject({ tenantId, messageId, direction: 'in', channel: 'sms' });
    expect(JSON.stringify(body)).not.toContain('hello from the feed test');
    // One effect, one event, however often the webhook came: the attempts listing settles at one.
    const attempts = await pollUntil(async () => {
      const answer = await call('GET', `/v1/event-endpoints/${name}/attempts`, apiKey);
      const list = (answer.json as { attempts: Array<{ eventId: string; status: string }> })
        .attempts;
      return list.length > 0 && list.every((a) => a.status === 'delivered') ? list : undefined;
    });
    expect(attempts.map((a) => a.eventId)).toEqual([delivery?.id]);
    const after = await fetch(`${runtime.simUrl}/_sim/receiver/${name}`);
    const { deliveries } = (await after.json()) as { deliveries: ReceivedDelivery[] };
    expect(deliveries.map((d) => d.id)).toEqual([delivery?.id]);
  });
});
