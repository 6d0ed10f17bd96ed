/**
 * `npm run bench -- events [--events N] [--entities E] [--pollers P] [--json]`: events out, from the
 * effect's commit to the receiver. N effects (default 2,000 ledger conversions, each its own
 * entity) are written by the ledger's own conditional write (`putConversion`), E writers at once
 * (default 50); the local runtime's change feed (its stream poller over DynamoDB Local) derives
 * each event and dispatches it, and its `deliverEvents` worker (P pollers, default 4) posts it to
 * the receiver simulator. Prints events/s, p50/p99 from the moment the effect's write returned
 * (committed) to the receiver's record of the POST, and DynamoDB write and read units per event
 * (the runtime's change feed and worker, through its gateway; the effect writes themselves are not
 * counted: they are the effect, not the event).
 *
 * Baseline, measured in the same run against the same receiver: the same effect write, then a
 * plain POST of its event with a hand-made Standard Webhooks signature as soon as the write
 * returned (E at once): no feed, no log, no delivery record, no retry, no SSRF check — and an event
 * lost whenever the process dies between the write and the POST.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { withBenchRuntime } from './bench-runtime.js';
import { countRuntimeDynamoDb } from './dynamodb-tally.js';

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
      const { ddb } = await import('../../functions/kernel/clients.js');
      const { systemClock } = await import('../../functions/kernel/clock.js');
      const { tableName } = await import('../../functions/kernel/config.js');
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

      const { DynamoDbLedgerStore } = await import('../../functions/ledger/index.js');
      const { conversionIdOf, stayIdOf } = await import('../../functions/ledger/model.js');
      const { eventIdOf } = await import('../../functions/events/derive.js');
      const ledger = new DynamoDbLedgerStore(ddb, tableName('ledger'));
      /** The effect: one conversion logged by the ledger's conditional write (`putOnce`). */
      const conversionOf = (tenant: string, i: number) => {
        const userId = `user-${i}`;
        const conversionId = conversionIdOf(
          tenant,
          userId,
          'signature_obtained',
          'unsigned_users',
          1,
        );
        return {
          conversionId,
          tenantId: tenant,
          userId,
          type: 'signature_obtained',
          queueType: 'unsigned_users',
          stayId: stayIdOf(tenant, 'unsigned_users', userId, 1),
          stayNo: 1,
          source: 'event' as const,
          occurredAt: new Date().toISOString(),
          loggedAt: new Date().toISOString(),
          evidenceId: `e:${userId}`,
        };
      };
      /** Writes the N effects, `entities` at once; `then` runs as each write returns. */
      const writeEffects = async (
        tenant: string,
        then: (eventId: string, at: number) => Promise<void>,
      ) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: entities }, async () => {
            for (let i = next++; i < total; i = next++) {
              const conversion = conversionOf(tenant, i);
              const out = await ledger.putConversion(conversion);
              if (!out.created) throw new Error('an effect written twice');
              const eventId = eventIdOf(
                'ledger.conversion.logged',
                tenant,
                conversion.conversionId,
              );
              await then(eventId, Date.now());
            }
          }),
        );
      };
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
      const latenciesOf = (seen: Received[], committedAt: Map<string, number>) =>
        seen
          .map((d) => Date.parse(d.receivedAt) - (committedAt.get(d.id ?? '') ?? Number.NaN))
          .filter(Number.isFinite)
          .sort((a, b) => a - b);

      // onceflow: effect → change feed → dispatcher → queue → worker → receiver
      const worker = countRuntimeDynamoDb(runtime);
      worker.start();
      const committedAt = new Map<string, number>();
      const started = Date.now();
      await writeEffects(tenantId, async (eventId, at) => {
        committedAt.set(eventId, at);
      });
      const seen = await waitFor('onceflow');
      const seconds = (Date.now() - started) / 1000;
      const workerTally = worker.stop();
      const latencies = latenciesOf(seen, committedAt);

      // baseline: the same effect write, then a hand-signed POST at once (no feed, no record)
      const key = randomBytes(32);
      const baseTenant = `${tenantId}-base`;
      const baseCommitted = new Map<string, number>();
      const baseStart = Date.now();
      await writeEffects(baseTenant, async (eventId, at) => {
        baseCommitted.set(eventId, at);
        const body = JSON.stringify({ type: 'ledger.conversion.logged', data: { eventId } });
        const ts = Math.floor(Date.now() / 1000);
        const sig = createHmac('sha256', key).update(`${eventId}.${ts}.${body}`).digest('base64');
        await fetch(receiverUrl('baseline'), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': eventId,
            'webhook-timestamp': String(ts),
            'webhook-signature': `v1,${sig}`,
          },
          body,
        });
      });
      const baseSeen = await waitFor('baseline');
      const baseSeconds = (Date.now() - baseStart) / 1000;
      const baseLatencies = latenciesOf(baseSeen, baseCommitted);

      const result = {
        events: total,
        entities,
        onceflow: {
          eventsPerSecond: Math.round(total / seconds),
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
          wcuPerEvent: +((workerTally.wcu + workerTally.estimatedWcu) / total).toFixed(2),
          rcuPerEvent: +(workerTally.rcu / total).toFixed(2),
          requestsPerEvent: +(workerTally.requests / total).toFixed(2),
        },
        baseline: {
          eventsPerSecond: Math.round(total / baseSeconds),
          p50Ms: percentile(baseLatencies, 50),
          p99Ms: percentile(baseLatencies, 99),
        },
      };
      console.log(
        `events out: ${total} effects (ledger conversions) by ${entities} writers, one endpoint, ${pollers} pollers`,
      );
      console.log(
        `  onceflow  ${result.onceflow.eventsPerSecond} events/s, commit→receiver p50 ${result.onceflow.p50Ms} ms p99 ${result.onceflow.p99Ms} ms, ${result.onceflow.wcuPerEvent} WCU + ${result.onceflow.rcuPerEvent} RCU per event (${result.onceflow.requestsPerEvent} requests)`,
      );
      console.log(
        `  baseline  ${result.baseline.eventsPerSecond} events/s, commit→receiver p50 ${result.baseline.p50Ms} ms p99 ${result.baseline.p99Ms} ms (no record, no retry, no order under failure)`,
      );
      if (json) console.log(JSON.stringify(result));
      // Lambda runs one invocation per message group batch at once; locally, this many pollers.
    },
    { pollersPerQueue: pollers },
  );
}
