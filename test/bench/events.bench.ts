/**
 * `npm run bench -- events [--events N] [--entities E] [--pollers P] [--json]`: events out, from `accept` to the
 * receiver. N events (default 2,000) over E entities (default 50) are handed to the delivery half's
 * sink in stream-sized batches of 100; the local runtime's own `deliverEvents` worker (P pollers,
 * default 4)
 * posts them to the receiver simulator. Prints events/s, p50/p99 from accept to the receiver's
 * record, and DynamoDB write and read units per event (the sink in this process plus the worker's
 * calls through the runtime's gateway).
 *
 * Baseline, measured in the same run against the same receiver: a plain loop that posts each event
 * with a hand-made Standard Webhooks signature as soon as it is accepted (entities in parallel, one
 * entity's events one after another): no log, no delivery record, no retry, no SSRF check.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { withBenchRuntime } from './bench-runtime.js';
import { countDynamoDb, countRuntimeDynamoDb } from './dynamodb-tally.js';

interface Received {
  id: string | null;
  receivedAt: string;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export default async function eventsBench(args: string[]): Promise<void> {
  let total = 2_000;
  let entities = 50;
  let json = false;
  let pollers = 4;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--events') total = Number(args[++i]);
    else if (args[i] === '--entities') entities = Number(args[++i]);
    else if (args[i] === '--pollers') pollers = Number(args[++i]);
    else if (args[i] === '--json') json = true;
  }
  await withBenchRuntime(
    async (runtime) => {
      const { ddb, dynamodbClient } = await import('../../functions/kernel/clients.js');
      const { systemClock } = await import('../../functions/kernel/clock.js');
      const { queueUrl, tableName } = await import('../../functions/kernel/config.js');
      const { createEndpointDispatcher } = await import('../../functions/events/dispatch.js');
      const { sqsBell } = await import('../../functions/events/deps.js');
      const { DynamoEventsStore } = await import('../../functions/events/events-store.js');
      const { testTenantStore } = await import('../support/tenant-store.js');
      const { tenantConfigSchema } = await import('../../functions/tenants/index.js');

      const tenantId = `bench-${randomUUID().slice(0, 8)}`;
      const store = testTenantStore(systemClock);
      await store.putConfig(
        tenantId,
        tenantConfigSchema.parse({ name: 'Bench', defaultCountry: 'IL' }),
      );
      const { apiKey } = await store.issueCredentials(tenantId);
      const receiverUrl = (name: string) => `${runtime.urls.sim}/_sim/receiver/${name}`;
      const put = await fetch(`${runtime.urls.api}/v1/event-endpoints/bench`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: receiverUrl('onceflow'), eventTypes: ['*'] }),
      });
      if (put.status !== 200)
        throw new Error(`endpoint not registered: ${put.status} ${await put.text()}`);

      const events = Array.from({ length: total }, (_, i) => ({
        eventId: `evt_${randomUUID().replaceAll('-', '')}`,
        tenantId,
        type: 'message.received' as const,
        entityKey: `conversation:c_${i % entities}`,
        occurredAt: new Date(Date.now() + i).toISOString(),
        data: { tenantId, conversationId: `c_${i % entities}`, messageId: `m_${i}` },
      }));
      const received = async (name: string) => {
        const res = await fetch(receiverUrl(name));
        return ((await res.json()) as { deliveries: Received[] }).deliveries;
      };
      const waitFor = async (name: string) => {
        for (;;) {
          const seen = await received(name);
          if (seen.length >= total) return seen;
          await new Promise((r) => setTimeout(r, 200));
        }
      };

      // onceflow
      const sink = createEndpointDispatcher({
        store: new DynamoEventsStore(ddb, tableName('events')),
        bell: sqsBell(queueUrl('eventDeliveries')),
        clock: systemClock,
        endpointsCacheMs: 5_000,
      });
      const local = countDynamoDb(dynamodbClient, 'sink');
      const worker = countRuntimeDynamoDb(runtime);
      local.start();
      worker.start();
      const acceptedAt = new Map<string, number>();
      const started = Date.now();
      for (let i = 0; i < total; i += 100) {
        const batch = events.slice(i, i + 100);
        const now = Date.now();
        for (const e of batch) acceptedAt.set(e.eventId, now);
        const { failed } = await sink.accept(batch);
        if (failed.length > 0) throw new Error(`${failed.length} events not accepted`);
      }
      const seen = await waitFor('onceflow');
      const seconds = (Date.now() - started) / 1000;
      const sinkTally = local.stop();
      const workerTally = worker.stop();
      const latencies = seen
        .map((d) => Date.parse(d.receivedAt) - (acceptedAt.get(d.id ?? '') ?? Number.NaN))
        .filter(Number.isFinite)
        .sort((a, b) => a - b);

      // baseline: post each event with a hand signature, entities in parallel
      const key = randomBytes(32);
      const baseStart = Date.now();
      const baseAccepted = new Map<string, number>();
      const byEntity = new Map<string, typeof events>();
      for (const e of events) byEntity.set(e.entityKey, [...(byEntity.get(e.entityKey) ?? []), e]);
      await Promise.all(
        [...byEntity.values()].map(async (list) => {
          for (const e of list) {
            baseAccepted.set(e.eventId, Date.now());
            const body = JSON.stringify({ type: e.type, timestamp: e.occurredAt, data: e.data });
            const ts = Math.floor(Date.now() / 1000);
            const sig = createHmac('sha256', key)
              .update(`${e.eventId}.${ts}.${body}`)
              .digest('base64');
            await fetch(receiverUrl('baseline'), {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                'webhook-id': e.eventId,
                'webhook-timestamp': String(ts),
                'webhook-signature': `v1,${sig}`,
              },
              body,
            });
          }
        }),
      );
      const baseSeen = await waitFor('baseline');
      const baseSeconds = (Date.now() - baseStart) / 1000;
      const baseLatencies = baseSeen
        .map((d) => Date.parse(d.receivedAt) - (baseAccepted.get(d.id ?? '') ?? Number.NaN))
        .filter(Number.isFinite)
        .sort((a, b) => a - b);

      const result = {
        events: total,
        entities,
        onceflow: {
          eventsPerSecond: Math.round(total / seconds),
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
          wcuPerEvent: +(
            (sinkTally.wcu + sinkTally.estimatedWcu + workerTally.wcu + workerTally.estimatedWcu) /
            total
          ).toFixed(2),
          rcuPerEvent: +((sinkTally.rcu + workerTally.rcu) / total).toFixed(2),
          requestsPerEvent: +((sinkTally.requests + workerTally.requests) / total).toFixed(2),
        },
        baseline: {
          eventsPerSecond: Math.round(total / baseSeconds),
          p50Ms: percentile(baseLatencies, 50),
          p99Ms: percentile(baseLatencies, 99),
        },
      };
      console.log(
        `events out: ${total} events over ${entities} entities, one endpoint, ${pollers} pollers`,
      );
      console.log(
        `  onceflow  ${result.onceflow.eventsPerSecond} events/s, accept→receiver p50 ${result.onceflow.p50Ms} ms p99 ${result.onceflow.p99Ms} ms, ${result.onceflow.wcuPerEvent} WCU + ${result.onceflow.rcuPerEvent} RCU per event (${result.onceflow.requestsPerEvent} requests)`,
      );
      console.log(
        `  baseline  ${result.baseline.eventsPerSecond} events/s, accept→receiver p50 ${result.baseline.p50Ms} ms p99 ${result.baseline.p99Ms} ms (no record, no retry, no order under failure)`,
      );
      if (json) console.log(JSON.stringify(result));
      // Lambda runs one invocation per message group batch at once; locally, this many pollers.
    },
    { pollersPerQueue: pollers },
  );
}
