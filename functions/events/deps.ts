/**
 * The events context's composition root: the store, the doorbell, the secret box, the dispatcher
 * and the delivery worker's dependencies, built once per container.
 */
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, tableName } from '../kernel/config.js';
import { enqueueFifo } from '../kernel/fifo.js';
import { type SecretBox, secretBox } from '../kernel/secret-box.js';
import { platformSecret } from '../kernel/secrets.js';
import { dnsResolver } from '../kernel/ssrf.js';
import type { DeliveryDeps } from './deliver.js';
import { createEndpointDispatcher, type DeliveryBell } from './dispatch.js';
import type { EndpointsDeps } from './endpoints.js';
import { DynamoEventsStore, type EventsStore } from './events-store.js';
import type { DeliveryRef } from './items.js';
import type { EventSink } from './model.js';
import { eventSettings } from './settings.js';
import type { SweepDeps } from './sweep.js';
import { httpTransport } from './transport.js';

let store: EventsStore | undefined;

export function eventsStore(): EventsStore {
  store ??= new DynamoEventsStore(ddb, tableName('events'));
  return store;
}

/**
 * The FIFO message of a delivery: its group is (tenant, endpoint, entity), its id the delivery's
 * (and the ring's, for a sweep's later ring).
 */
export function deliveryMessage(ref: DeliveryRef, round?: string) {
  const identity = `delivery#${ref.tenantId}#${ref.endpointId}#${ref.eventId}#${ref.cycle}`;
  return {
    body: ref,
    groupId: `${ref.tenantId}#${ref.endpointId}#${ref.entityKey}`,
    identity: round === undefined ? identity : `${identity}#ring:${round}`,
  };
}

export function sqsBell(url: string): DeliveryBell {
  return {
    ring: (refs, roundOf) =>
      enqueueFifo(
        sqs,
        url,
        refs.map((ref) => deliveryMessage(ref, roundOf?.(ref))),
      ),
  };
}

let box: { key: string; box: SecretBox } | undefined;

/** The box of the current `eventSigningKey` (the secret itself is cached by `platformSecret`). */
export async function eventSecretBox(): Promise<SecretBox> {
  const key = await platformSecret('eventSigningKey');
  if (box?.key !== key) box = { key, box: secretBox(key) };
  return box.box;
}

/** The dispatcher the change feed hands events to. */
export function endpointDispatcher(): EventSink {
  return createEndpointDispatcher({
    store: eventsStore(),
    bell: sqsBell(queueUrl('eventDeliveries')),
    clock: systemClock,
    // A tenant's endpoints read at most once per 5 s per container (see `DispatcherDeps`).
    endpointsCacheMs: 5_000,
  });
}

export function endpointsDeps(): EndpointsDeps {
  return {
    store: eventsStore(),
    clock: systemClock,
    resolver: dnsResolver,
    policy: { allowLoopbackHttp: eventSettings.allowLoopbackHttp },
    box: eventSecretBox,
  };
}

export function replayDeps() {
  return { ...endpointsDeps(), dispatch: { bell: sqsBell(queueUrl('eventDeliveries')) } };
}

export function sweepDeps(): SweepDeps {
  const bell = sqsBell(queueUrl('eventDeliveries'));
  return { store: eventsStore(), clock: systemClock, bell, dispatch: { bell } };
}

export function deliveryDeps(): DeliveryDeps {
  // The same store, clock, resolver, target policy and secret box as the endpoints API.
  return {
    ...endpointsDeps(),
    transport: httpTransport,
    sink: endpointDispatcher(),
    timeoutMs: eventSettings.deliveryTimeoutMs,
  };
}

/** The change feed's dependencies: the sink its events go to (the endpoint dispatcher). */
export interface ChangeFeedDeps {
  readonly sink: EventSink;
}

let feed: ChangeFeedDeps | undefined;

export function changeFeedDeps(): ChangeFeedDeps {
  feed ??= { sink: endpointDispatcher() };
  return feed;
}
