/**
 * Drivers for the events delivery tests: a receiver simulator on a free port, a private FIFO queue
 * per test file, the real store on DynamoDB Local, the real dispatcher, and a pump that works the
 * queue with the kernel's FIFO consumer around the real `deliver` — deleting what succeeded as the
 * Lambda event source does, and, when nothing is due, moving the test's clock to the next due
 * attempt and showing the held messages again (what SQS does when their hidden time ends).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { vi } from 'vitest';
import * as z from 'zod';
import { type DeliveryDeps, deliver } from '../../../functions/events/deliver.js';
import { sqsBell } from '../../../functions/events/deps.js';
import { createEndpointDispatcher } from '../../../functions/events/dispatch.js';
import { type EndpointsDeps, putEndpoint } from '../../../functions/events/endpoints.js';
import { DynamoEventsStore } from '../../../functions/events/events-store.js';
import type { DeliveryRef } from '../../../functions/events/items.js';
import type { EventType, OnceflowEvent } from '../../../functions/events/model.js';
import type { SweepDeps } from '../../../functions/events/sweep.js';
import { httpTransport, type WebhookTransport } from '../../../functions/events/transport.js';
import { ddb, sqs } from '../../../functions/kernel/clients.js';
import { ManualClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { consumeGroupsInParallel } from '../../../functions/kernel/fifo-group-consumer.js';
import { secretBox } from '../../../functions/kernel/secret-box.js';
import type { ResolvedAddress, Resolver } from '../../../functions/kernel/ssrf.js';
import { listen } from '../../../lib/local/http-util.js';
import { ensureFifoQueue, ensureTable } from '../../../lib/local/provision.js';
import { toSqsRecord } from '../../../lib/local/queue-poller.js';
import { fifoQueuePair } from '../../../lib/local/resources.js';
import { type ReceivedDelivery, receiverSimulator } from '../../../lib/local/sim/receiver.js';
import { createSimulatorServer } from '../../../lib/local/simulators.js';
import { tables } from '../../../lib/manifest.js';
import { emulatorEndpoints, testDynamoDbClient } from '../../support/emulators.js';

export const TEST_BOX = secretBox('test-event-signing-key');

// --- the receiver ----------------------------------------------------------------------------------

export interface Receiver {
  readonly baseUrl: string;
  /** The URL of the receiver `name`; `host` replaces `127.0.0.1` (resolved by the test resolver). */
  url(name: string, host?: string): string;
  deliveries(name: string): Promise<ReceivedDelivery[]>;
  behave(
    name: string,
    behaviour: { status?: number; latencyMs?: number; failRate?: number },
  ): Promise<void>;
  readonly port: number;
}

let receiver: Promise<Receiver> | undefined;

export function startReceiver(): Promise<Receiver> {
  receiver ??= (async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'receiver-sim-'));
    const server = createSimulatorServer({
      context: {
        apiBaseUrl: 'http://127.0.0.1:1',
        simBaseUrl: '',
        env: (name) => (name === 'ONCEFLOW_DATA_DIR' ? dataDir : process.env[name]),
        log: () => {},
      },
      factories: [receiverSimulator],
    });
    const port = await listen(server.server, 0, '127.0.0.1');
    server.server.unref();
    const baseUrl = `http://127.0.0.1:${port}`;
    return {
      baseUrl,
      port,
      url: (name, host = '127.0.0.1') => `http://${host}:${port}/_sim/receiver/${name}`,
      async deliveries(name) {
        const res = await fetch(`${baseUrl}/_sim/receiver/${name}`);
        return ((await res.json()) as { deliveries: ReceivedDelivery[] }).deliveries;
      },
      async behave(name, behaviour) {
        const res = await fetch(`${baseUrl}/_sim/receiver/${name}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(behaviour),
        });
        if (res.status !== 200) throw new Error(`receiver refused ${JSON.stringify(behaviour)}`);
      },
    };
  })();
  return receiver;
}

/**
 * Verifies a recorded delivery with the reference library, at the moment it was sent (the test's
 * clock is not the wall clock): the body it parsed, or throws `WebhookVerificationError`.
 */
export function verifyDelivery(
  secret: string,
  delivery: ReceivedDelivery,
  body = delivery.body,
): unknown {
  const at = Number(delivery.timestamp) * 1000;
  const now = vi.spyOn(Date, 'now').mockReturnValue(at);
  try {
    return new Webhook(secret).verify(body, {
      'webhook-id': delivery.id ?? '',
      'webhook-timestamp': delivery.timestamp ?? '',
      'webhook-signature': delivery.signature ?? '',
    });
  } finally {
    now.mockRestore();
  }
}

// --- resolvers -------------------------------------------------------------------------------------

/** A resolver that answers from a table (and counts lookups): DNS as a test wants it. */
export function tableResolver(table: Record<string, string[] | (() => string[])>): Resolver & {
  lookups: number;
} {
  const resolver = {
    lookups: 0,
    async resolve(host: string): Promise<ResolvedAddress[]> {
      resolver.lookups += 1;
      const entry = table[host];
      const addresses = typeof entry === 'function' ? entry() : entry;
      if (!addresses) throw new Error(`ENOTFOUND ${host}`);
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  };
  return resolver;
}

// --- the world around the dispatcher and the worker --------------------------------------------------

export async function privateEventsQueue(
  client: SQSClient = sqs,
): Promise<{ url: string; name: string }> {
  const base = `events-${randomUUID().slice(0, 8)}`;
  const queue = fifoQueuePair(`${base}.fifo`, `${base}-dlq.fifo`, emulatorEndpoints().sqs);
  // Visibility 12 h: only the pump shows a held message again, on the test clock.
  await ensureFifoQueue(client, queue, { visibilityTimeoutSeconds: 43_200, maxReceiveCount: 30 });
  return { url: queue.url, name: `${base}.fifo` };
}

/** A fresh table with the events layout: a sweep over it meets no other test's deliveries. */
/**
 * A world on an events table of its own (the sweep reads a whole table), a receiver, and one
 * endpoint `<namePrefix>-<tenant>` subscribed to every event type; `secret` signs its deliveries.
 */
export async function sweptWorld(namePrefix: string) {
  const world = await eventsWorld({ table: await privateEventsTable() });
  const receiver = await startReceiver();
  const tenantId = testTenantId();
  const name = `${namePrefix}-${tenantId}`;
  const { secret } = await putEndpoint(world.endpoints, tenantId, name, {
    url: receiver.url(name),
    eventTypes: ['*'],
  });
  return { world, receiver, tenantId, name, secret: secret ?? '' };
}

export async function privateEventsTable(): Promise<string> {
  const name = `events-${randomUUID().slice(0, 8)}`;
  await ensureTable(testDynamoDbClient(), name, tables.events);
  return name;
}

/** The sweep's dependencies over a world: its store, clock and queue. */
export function sweepDepsOf(world: EventsWorld): SweepDeps {
  const bell = sqsBell(world.queue.url);
  return { store: world.store, clock: world.clock, bell, dispatch: { bell } };
}

/** Takes every visible message off the world's queue: what SQS does when it dead-letters them. */
export async function dropQueuedMessages(world: EventsWorld): Promise<number> {
  let dropped = 0;
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: world.queue.url, MaxNumberOfMessages: 10 }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return dropped;
    for (const m of messages) {
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: world.queue.url, ReceiptHandle: m.ReceiptHandle }),
      );
      dropped += 1;
    }
  }
}

export interface EventsWorld {
  readonly clock: ManualClock;
  readonly store: DynamoEventsStore;
  readonly queue: { url: string; name: string };
  readonly sink: ReturnType<typeof createEndpointDispatcher>;
  readonly delivery: DeliveryDeps;
  readonly endpoints: EndpointsDeps;
  /** Every POST the worker made (the transport's calls). */
  posts: number;
  /** Messages held until their next attempt (receipt handle, due time on the test clock). */
  readonly hidden: { handle: string; due: number }[];
}

export async function eventsWorld(
  options: {
    resolver?: Resolver;
    transport?: WebhookTransport;
    random?: () => number;
    /** A table of its own (`privateEventsTable`): for the sweep, which reads a whole table. */
    table?: string;
  } = {},
): Promise<EventsWorld> {
  const clock = new ManualClock(Date.now());
  const store = new DynamoEventsStore(ddb, options.table ?? tableName('events'));
  const queue = await privateEventsQueue();
  const sink = createEndpointDispatcher({ store, bell: sqsBell(queue.url), clock });
  const resolver = options.resolver ?? tableResolver({});
  const policy = { allowLoopbackHttp: true };
  const box = async () => TEST_BOX;
  const inner = options.transport ?? httpTransport;
  const world: EventsWorld = {
    clock,
    store,
    queue,
    sink,
    posts: 0,
    hidden: [],
    endpoints: { store, clock, resolver, policy, box },
    delivery: {
      store,
      clock,
      resolver,
      policy,
      box,
      sink,
      timeoutMs: 5_000,
      ...(options.random ? { random: options.random } : {}),
      transport: {
        post: (request) => {
          world.posts += 1;
          return inner.post(request);
        },
      },
    },
  };
  return world;
}

const refSchema = z.object({
  tenantId: z.string(),
  endpointId: z.string(),
  eventId: z.string(),
  cycle: z.string(),
  entityKey: z.string(),
  occurredAt: z.string(),
});

/**
 * Works the queue until it is empty: batches of 10 through the kernel's FIFO consumer around the
 * real `deliver`, deleting what succeeded as the Lambda event source does. A message the worker
 * holds until its next attempt stays hidden until the test clock reaches that time (as SQS keeps it
 * for its visibility timeout; the queue's own timeout is 12 hours so only the pump shows it again);
 * when nothing is visible, the clock moves to the earliest held attempt. `deliverWith` lets a crash
 * flow wrap the worker. Returns the number of receives.
 */
export async function pump(
  world: EventsWorld,
  options: {
    maxRounds?: number;
    deliverWith?: (ref: DeliveryRef) => Promise<Awaited<ReturnType<typeof deliver>>>;
  } = {},
): Promise<number> {
  const arn = `arn:aws:sqs:us-east-1:000000000000:${world.queue.name}`;
  const dueOf = new Map<string, number>();
  const hidden = world.hidden;
  const consume = consumeGroupsInParallel({
    queue: 'eventDeliveries',
    schema: refSchema,
    async handle(message) {
      const outcome = await (options.deliverWith ?? ((ref) => deliver(world.delivery, ref)))(
        message.body,
      );
      if (outcome.kind === 'later') {
        dueOf.set(message.messageId, world.clock.now() + outcome.afterMs);
        throw new Error('not due');
      }
    },
  });
  const showDue = async () => {
    const now = world.clock.now();
    const due = hidden.filter((h) => h.due <= now);
    if (due.length === 0) return;
    hidden.splice(0, hidden.length, ...hidden.filter((h) => h.due > now));
    await showAgain(
      world.queue.url,
      due.map((h) => h.handle),
    );
  };
  let rounds = 0;
  for (let empty = 0; empty < 2 && rounds < (options.maxRounds ?? 100_000); rounds++) {
    await showDue();
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: world.queue.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      const next = Math.min(...hidden.map((h) => h.due));
      if (Number.isFinite(next)) world.clock.advance(Math.max(0, next - world.clock.now()));
      else empty += 1;
      continue;
    }
    empty = 0;
    dueOf.clear();
    const event: SQSEvent = { Records: messages.map((m) => toSqsRecord(m, arn)) };
    let failedIds: Set<string>;
    try {
      const response = await consume(event);
      failedIds = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    } catch (error) {
      // A crash: the whole batch comes back (after its visibility; shown at once here).
      await showAgain(
        world.queue.url,
        messages.map((m) => m.ReceiptHandle ?? ''),
      );
      throw error;
    }
    const done = messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
    if (done.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: world.queue.url,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
    const again: string[] = [];
    for (const m of messages.filter((m) => failedIds.has(m.MessageId ?? ''))) {
      const due = dueOf.get(m.MessageId ?? '');
      // Held until its attempt is due; the rest of a held group comes back at once (SQS returns
      // it after the head anyway, since a FIFO group hands out nothing while its head is hidden).
      if (due !== undefined && due > world.clock.now())
        hidden.push({ handle: m.ReceiptHandle ?? '', due });
      else again.push(m.ReceiptHandle ?? '');
    }
    await showAgain(world.queue.url, again);
  }
  return rounds;
}

async function showAgain(url: string, handles: readonly string[]): Promise<void> {
  for (let i = 0; i < handles.length; i += 10) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: handles.slice(i, i + 10).map((h, j) => ({
          Id: String(j),
          ReceiptHandle: h,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

// --- events ----------------------------------------------------------------------------------------

export function testEvent(
  tenantId: string,
  overrides: Partial<OnceflowEvent> & { seq?: number } = {},
): OnceflowEvent {
  const { seq = 0, ...rest } = overrides;
  const type: EventType = rest.type ?? 'message.received';
  return {
    eventId: `evt_${randomUUID().replaceAll('-', '')}`,
    tenantId,
    type,
    entityKey: `conversation:c_${randomUUID().slice(0, 8)}`,
    occurredAt: new Date(Date.parse('2026-12-01T00:00:00.000Z') + seq).toISOString(),
    data: { tenantId, conversationId: 'c_1', messageId: `m_${seq}`, seq },
    ...rest,
  };
}

/** The delivery of `event` to the endpoint `endpointId` in its first cycle, as the dispatcher rings it. */
export function firstDeliveryRef(event: OnceflowEvent, endpointId: string): DeliveryRef {
  return {
    tenantId: event.tenantId,
    endpointId,
    eventId: event.eventId,
    cycle: '0',
    entityKey: event.entityKey,
    occurredAt: event.occurredAt,
  };
}

export function testTenantId(): string {
  return `t-${randomUUID().slice(0, 8)}`;
}
