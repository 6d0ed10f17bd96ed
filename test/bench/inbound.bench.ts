/**
 * `npm run bench -- inbound [--deliveries N] [--concurrency C] [--json]`: WhatsApp Cloud API webhook
 * deliveries (default 20,000, 30% duplicates, concurrency 64) against the local runtime started in
 * this process, once through onceflow's `POST /webhooks/whatsapp` and once through a baseline
 * that wraps a plain handler with Powertools Idempotency (`inbound-baseline.ts`), same payloads.
 *
 * Per run: deliveries/s, p50/p99 latency, DynamoDB and SQS requests per unique message and per
 * duplicate (an SDK middleware on the shared clients counts every request made inside the webhook's
 * or a job consumer's telemetry context), DynamoDB write and read units per event
 * (`ReturnConsumedCapacity: INDEXES`, set by the same middleware: the table's units and every
 * secondary index's, so index writes are not hidden), and the cost per million deliveries those
 * counts imply at us-east-1 list prices. Uniques are sent first, then the duplicates (re-deliveries
 * of random earlier messages), so the two can be counted apart.
 *
 * The jobs each run enqueues go to a sink queue; once the deliveries are done, the run's own job
 * consumer takes them (store + jobs per message, so a saving cannot hide in the consumer): onceflow's
 * `runJobs` (one ring a message: one claim, then one settle for both jobs) with a work that does
 * nothing, and the baseline's Powertools-idempotent
 * consumer (`consumeBaselineJob`). Both skip the job's own work, the same for either. The consumer's
 * DynamoDB requests and units are counted per unique message; its SQS receives and deletes are not
 * (the same for both). Deliveries/s and latency are of the webhook phase alone.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { type FunctionSpec, functions } from '../../lib/manifest.js';
import { withBenchRuntime } from './bench-runtime.js';
import {
  addTallyMiddleware,
  chargeRequest,
  type DynamoDbTally,
  emptyDynamoDbTally,
} from './dynamodb-tally.js';
import { breakdown } from './operation-breakdown.js';

interface Options {
  deliveries: number;
  /** Unique deliveries (and their jobs) through each path before measuring; not counted. */
  warmup: number;
  concurrency: number;
  duplicateShare: number;
  phones: number;
}

function parseArgs(args: readonly string[]): Options {
  const options: Options = {
    deliveries: 20_000,
    warmup: -1,
    concurrency: 64,
    duplicateShare: 0.3,
    phones: 2_000,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = (args[i] ?? '').split('=', 2);
    const value = () => Number(inline ?? args[++i]);
    if (flag === '--deliveries') options.deliveries = value();
    else if (flag === '--concurrency') options.concurrency = value();
    else if (flag === '--warmup') options.warmup = value();
    else if (flag === '--duplicates') options.duplicateShare = value();
  }
  if (!Number.isInteger(options.deliveries) || options.deliveries < 10)
    throw new Error('--deliveries must be ≥ 10');
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    throw new Error('--concurrency must be ≥ 1');
  if (options.warmup < 0) options.warmup = Math.min(500, Math.floor(options.deliveries / 4));
  if (!Number.isInteger(options.warmup)) throw new Error('--warmup must be a whole number');
  options.phones = Math.max(10, Math.min(options.phones, Math.floor(options.deliveries / 10)));
  return options;
}

// --- counting ------------------------------------------------------------------------------------

/** DynamoDB (shared counter) plus the SQS requests the measured path makes. */
interface Tally extends DynamoDbTally {
  sqsRequests: number;
}

const emptyTally = (): Tally => ({ ...emptyDynamoDbTally(), sqsRequests: 0 });

// --- list prices (us-east-1, on-demand) -----------------------------------------------------------

const PRICE = {
  /** DynamoDB on-demand, per write / read request unit. */
  wru: 0.625 / 1e6,
  rru: 0.125 / 1e6,
  /** SQS FIFO, per request (64 KiB chunk). */
  sqsFifo: 0.5 / 1e6,
  /** HTTP API + one Lambda request; the same for both, shown for scale. */
  edge: 1.0 / 1e6 + 0.2 / 1e6,
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Per operation and key prefix, per unique message / duplicate (`operation-breakdown.ts`). */
type ByOperation = ReturnType<ReturnType<typeof breakdown>['stop']>;

interface RunResult {
  name: string;
  byOperation: { unique: ByOperation; duplicate: ByOperation; jobs: ByOperation };
  /** The job consumer's work on this run's jobs. */
  jobs: Tally;
  deliveries: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
  unique: Tally;
  duplicate: Tally;
  uniques: number;
  duplicates: number;
}

export default async function inboundBench(args: string[]): Promise<void> {
  const options = parseArgs(args);
  await withBenchRuntime(
    async (runtime) => {
      const { PROJECT_ROOT } = await import('../../lib/local/runtime.js');
      const baselineServer: { server?: Server } = {};
      try {
        // Imported only now: SDK clients read the runtime's endpoints when they are created.
        const { dynamodbClient, sqs } = await import('../../functions/kernel/clients.js');
        const { systemClock } = await import('../../functions/kernel/clock.js');
        const { currentTelemetry } = await import('../../functions/kernel/telemetry.js');
        const { signHubBody } = await import('../../functions/kernel/webhook-signature.js');
        const { tenantConfigSchema } = await import('../../functions/tenants/index.js');
        const { testTenantStore } = await import('../support/tenant-store.js');
        const { ensureFifoQueue, localSqsClient } = await import('../../lib/local/provision.js');
        const { fifoQueuePair, localQueue } = await import('../../lib/local/resources.js');
        const { createHttpAdapter } = await import('../../lib/local/http-adapter.js');
        const { createHandlerLoader } = await import('../../lib/local/lambda.js');
        const { listen } = await import('../../lib/local/http-util.js');
        const { envNameForQueue } = await import('../../lib/manifest.js');

        // Sink queues: both runs enqueue their job rings somewhere nobody polls.
        const admin = localSqsClient(runtime.urls.sqs);
        const sink = async (name: string) => {
          const queue = fifoQueuePair(`${name}.fifo`, `${name}-dlq.fifo`, runtime.urls.sqs);
          await ensureFifoQueue(admin, queue, { visibilityTimeoutSeconds: 60, maxReceiveCount: 5 });
          return queue.url;
        };
        // onceflow's webhooks ring the runtime's own jobs queue, which no poller takes (the runtime
        // runs without processJob): the bench consumes it below, in this process.
        const sinks = {
          onceflow: localQueue('jobs', runtime.urls.sqs).url,
          baseline: await sink('bench-baseline-sink'),
        };
        process.env[envNameForQueue('jobs')] = sinks.onceflow;
        process.env.BENCH_BASELINE_QUEUE_URL = sinks.baseline;

        const { jobDeps } = await import('../../functions/conversations/deps.js');
        const { JOB_TYPES, runJobs } = await import('../../functions/jobs/index.js');
        const { consumeBaselineJob } = await import('./inbound-baseline.js');
        const noWork = async () => ({ result: {} });
        const onceflowJobs = { ...jobDeps(), work: { lead_match: noWork, ai_triage: noWork } };
        /** Each consumer answers how many jobs the ring named (onceflow rings all of a message's). */
        const consumers: Record<string, (body: Record<string, unknown>) => Promise<number>> = {
          onceflow: async (ring) => {
            const named = Array.isArray(ring.jobTypes) ? ring.jobTypes.map(String) : [];
            const jobTypes = JOB_TYPES.filter((t) => named.includes(t));
            await runJobs(onceflowJobs, {
              tenantId: String(ring.tenantId),
              messageId: String(ring.messageId),
              jobTypes,
            });
            return jobTypes.length;
          },
          baseline: async (ring) => {
            await consumeBaselineJob({
              messageId: String(ring.messageId),
              type: String(ring.type),
            });
            return 1;
          },
        };
        /**
         * Takes every ring off a run's sink queue and runs its consumer on it, `concurrency` at a
         * time; answers the jobs the rings named.
         */
        async function consumeJobs(name: 'onceflow' | 'baseline'): Promise<number> {
          const consume = consumers[name];
          if (!consume) throw new Error(`no consumer for ${name}`);
          let consumed = 0;
          for (;;) {
            const batches = await Promise.all(
              Array.from({ length: Math.max(1, Math.floor(options.concurrency / 10)) }, () =>
                admin.send(
                  new ReceiveMessageCommand({
                    QueueUrl: sinks[name],
                    MaxNumberOfMessages: 10,
                    VisibilityTimeout: 60,
                  }),
                ),
              ),
            );
            const messages = batches.flatMap((b) => b.Messages ?? []);
            if (messages.length === 0) return consumed;
            await Promise.all(
              messages.map(async (m) => {
                const jobs = await consume(JSON.parse(m.Body ?? '{}'));
                await admin.send(
                  new DeleteMessageCommand({
                    QueueUrl: sinks[name],
                    ReceiptHandle: m.ReceiptHandle,
                  }),
                );
                consumed += jobs;
              }),
            );
          }
        }

        // The baseline, served by the same HTTP adapter code as the manifest routes.
        const adapter = createHttpAdapter({
          loader: createHandlerLoader({ projectRoot: PROJECT_ROOT, log: () => {} }),
          routes: [
            {
              method: 'POST',
              path: '/bench/baseline/whatsapp',
              fn: { name: 'baseline', entry: 'test/bench/inbound-baseline.ts', timeoutSeconds: 30 },
            },
          ],
          log: () => {},
        });
        baselineServer.server = adapter;
        const baselinePort = await listen(adapter, 0, '127.0.0.1');

        // One tenant per run.
        const tenants = await Promise.all(
          ['onceflow', 'baseline'].map(async (label) => {
            const suffix = randomUUID().slice(0, 8);
            const tenantId = `bench-${label}-${suffix}`;
            const phoneNumberId = BigInt(
              `0x${randomUUID().replaceAll('-', '').slice(0, 15)}`,
            ).toString();
            await testTenantStore(systemClock).putConfig(
              tenantId,
              tenantConfigSchema.parse({
                name: label,
                defaultCountry: 'IL',
                whatsapp: { phoneNumberIds: [phoneNumberId] },
              }),
            );
            await testTenantStore(systemClock).issueCredentials(tenantId);
            return { tenantId, phoneNumberId };
          }),
        );

        // Counting middleware on the shared clients: attributed to whichever run is in progress, and
        // only for requests made inside a webhook's telemetry context.
        const tallies = {
          current: emptyTally(),
          counting: false,
          /** Where the same calls are itemised by operation and key prefix. */
          operations: breakdown(),
        };
        const sourceCounted = () => {
          if (!tallies.counting) return false;
          const source = currentTelemetry().source;
          return source.startsWith('http:POST /') || source.startsWith('background_job:');
        };
        // INDEXES: the total then includes every secondary index's units, not the table's alone.
        addTallyMiddleware(dynamodbClient, {
          name: 'benchCountDynamoDb',
          capacity: 'INDEXES',
          chargeTo: () => (sourceCounted() ? tallies.current : undefined),
        });
        sqs.middlewareStack.add(
          (next) => async (call) => {
            if (sourceCounted()) tallies.current.sqsRequests += 1;
            return next(call);
          },
          { step: 'initialize', name: 'benchCountSqs' },
        );
        // The webhook functions run in the runtime's workers: its gateway reports their calls.
        runtime.observeAwsCalls({
          consumedCapacity: 'INDEXES',
          observe(call) {
            if (!tallies.counting) return;
            if (call.service === 'sqs') tallies.current.sqsRequests += 1;
            if (call.service !== 'dynamodb') return;
            const outcome = {
              failed: call.status !== 200,
              ...(call.output ? { output: call.output } : {}),
            };
            chargeRequest(tallies.current, call.operation, call.input, outcome);
            tallies.operations.record(call.operation, call.input, outcome);
          },
        });
        // The jobs consumed in this process: itemised too.
        dynamodbClient.middlewareStack.add(
          (next, context) => async (call) => {
            const operation = (context.commandName ?? '').replace(/Command$/, '');
            const input = call.input as Record<string, unknown>;
            const counted = sourceCounted();
            try {
              const out = await next(call);
              if (counted)
                tallies.operations.record(operation, input, {
                  failed: false,
                  output: out.output as unknown as Record<string, unknown>,
                });
              return out;
            } catch (error) {
              if (counted) tallies.operations.record(operation, input, { failed: true });
              throw error;
            }
          },
          { step: 'initialize', name: 'benchBreakdownDynamoDb' },
        );

        const secret = process.env.WHATSAPP_APP_SECRET ?? 'local-app-secret';
        const payloadFor = (phoneNumberId: string, wamid: string, phone: string) =>
          JSON.stringify({
            object: 'whatsapp_business_account',
            entry: [
              {
                id: 'waba',
                changes: [
                  {
                    field: 'messages',
                    value: {
                      messaging_product: 'whatsapp',
                      metadata: {
                        display_phone_number: '15550783881',
                        phone_number_id: phoneNumberId,
                      },
                      contacts: [{ profile: { name: 'Bench' }, wa_id: phone }],
                      messages: [
                        {
                          from: phone,
                          id: wamid,
                          timestamp: String(Math.floor(Date.now() / 1000)),
                          type: 'text',
                          text: { body: 'Is it still available?' },
                        },
                      ],
                    },
                  },
                ],
              },
            ],
          });

        const duplicates = Math.round(options.deliveries * options.duplicateShare);
        const uniques = options.deliveries - duplicates;

        async function run(
          name: 'onceflow' | 'baseline',
          url: string,
          phoneNumberId: string,
          size: { uniques: number; duplicates: number; counted: boolean } = {
            uniques,
            duplicates,
            counted: true,
          },
        ): Promise<RunResult> {
          const { uniques, duplicates } = size;
          const bodies = Array.from({ length: uniques }, (_, i) =>
            payloadFor(
              phoneNumberId,
              `wamid.${name}.${i}.${randomUUID()}`,
              `${size.counted ? 97250 : 97252}${String(1_000_000 + (i % options.phones))}`,
            ),
          );
          const dupBodies = Array.from(
            { length: duplicates },
            () => bodies[Math.floor(Math.random() * uniques)] ?? '',
          );
          const latencies: number[] = [];
          let errors = 0;
          const send = async (raw: string) => {
            const started = performance.now();
            const response = await fetch(url, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                'x-hub-signature-256': signHubBody(raw, secret),
              },
              body: raw,
            });
            await response.arrayBuffer();
            latencies.push(performance.now() - started);
            if (response.status !== 200) errors += 1;
          };
          const pool = async (items: string[]) => {
            let next = 0;
            await Promise.all(
              Array.from({ length: options.concurrency }, async () => {
                while (next < items.length) {
                  const item = items[next++];
                  if (item !== undefined) await send(item);
                }
              }),
            );
          };
          const started = performance.now();
          tallies.counting = size.counted;
          tallies.current = emptyTally();
          tallies.operations.start();
          await pool(bodies);
          const unique = tallies.current;
          const uniqueOperations = tallies.operations.stop(Math.max(1, uniques));
          tallies.current = emptyTally();
          tallies.operations.start();
          await pool(dupBodies);
          const duplicate = tallies.current;
          const duplicateOperations = tallies.operations.stop(Math.max(1, duplicates));
          const seconds = (performance.now() - started) / 1000;
          tallies.current = emptyTally();
          tallies.operations.start();
          const consumed = await consumeJobs(name);
          const jobs = tallies.current;
          const jobsOperations = tallies.operations.stop(Math.max(1, uniques));
          tallies.counting = false;
          if (consumed < uniques * 2) throw new Error(`${name}: consumed ${consumed} jobs`);
          latencies.sort((a, b) => a - b);
          return {
            name,
            byOperation: {
              unique: uniqueOperations,
              duplicate: duplicateOperations,
              jobs: jobsOperations,
            },
            jobs,
            deliveries: options.deliveries,
            seconds,
            p50: percentile(latencies, 50),
            p99: percentile(latencies, 99),
            errors,
            unique,
            duplicate,
            uniques,
            duplicates,
          };
        }

        const [onceflowTenant, baselineTenant] = tenants;
        if (!onceflowTenant || !baselineTenant) throw new Error('tenants missing');
        console.log(
          `inbound bench: ${options.deliveries} deliveries (${uniques} unique, ${duplicates} duplicates), concurrency ${options.concurrency}, ${options.phones} senders`,
        );
        // Warm both paths (module load, JIT, DynamoDB Local's JVM) outside the measurement, each
        // through webhook and consumer, so neither run is measured cold: whichever ran first was
        // measured markedly slower, whatever it was.
        const warm = { uniques: options.warmup, duplicates: 0, counted: false };
        await run(
          'onceflow',
          `${runtime.urls.api}/webhooks/whatsapp`,
          onceflowTenant.phoneNumberId,
          warm,
        );
        await run(
          'baseline',
          `http://127.0.0.1:${baselinePort}/bench/baseline/whatsapp`,
          baselineTenant.phoneNumberId,
          warm,
        );
        const results = [
          await run(
            'onceflow',
            `${runtime.urls.api}/webhooks/whatsapp`,
            onceflowTenant.phoneNumberId,
          ),
          await run(
            'baseline',
            `http://127.0.0.1:${baselinePort}/bench/baseline/whatsapp`,
            baselineTenant.phoneNumberId,
          ),
        ];
        admin.destroy();
        report(results, args.includes('--json'));
      } finally {
        if (baselineServer.server)
          await new Promise((r) => baselineServer.server?.close(() => r(undefined)));
      }
    },
    { functions: withoutJobConsumer() },
  );
}

/** The manifest's functions but the jobs queue's consumer: the bench consumes the rings itself. */
function withoutJobConsumer(): Record<string, FunctionSpec> {
  return Object.fromEntries(
    Object.entries(functions).filter(
      ([, spec]) => !(spec.trigger.kind === 'queue' && spec.trigger.queue === 'jobs'),
    ),
  );
}

function report(results: RunResult[], json: boolean): void {
  const rows = results.map((r) => {
    const per = (t: Tally, n: number) => ({
      ddb: t.requests / n,
      sqs: t.sqsRequests / n,
      wcu: (t.wcu + t.estimatedWcu) / n,
      rcu: t.rcu / n,
    });
    const u = per(r.unique, r.uniques);
    const d = per(r.duplicate, r.duplicates);
    const j = per(r.jobs, r.uniques);
    const events = r.uniques + r.duplicates;
    const all = [r.unique, r.duplicate, r.jobs];
    const sum = (f: (t: Tally) => number) => all.reduce((n, t) => n + f(t), 0) / events;
    const total = {
      requests: sum((t) => t.requests + t.sqsRequests),
      wcu: sum((t) => t.wcu + t.estimatedWcu),
      rcu: sum((t) => t.rcu),
      sqs: sum((t) => t.sqsRequests),
    };
    const costPerMillion =
      1e6 * (total.wcu * PRICE.wru + total.rcu * PRICE.rru + total.sqs * PRICE.sqsFifo);
    return { r, u, d, j, total, costPerMillion };
  });
  const f = (n: number, digits = 2) => n.toFixed(digits);
  const table = rows.map(({ r, u, d, j, total, costPerMillion }) => ({
    run: r.name,
    'deliveries/s': f(r.deliveries / r.seconds, 0),
    'p50 ms': f(r.p50, 1),
    'p99 ms': f(r.p99, 1),
    'non-200': r.errors,
    'DDB req/unique': f(u.ddb),
    'SQS req/unique': f(u.sqs),
    'DDB req/dup': f(d.ddb),
    'SQS req/dup': f(d.sqs),
    'WCU/unique': f(u.wcu),
    'WCU/dup': f(d.wcu),
    'jobs DDB req/unique': f(j.ddb),
    'jobs WCU/unique': f(j.wcu),
    'req/event': f(total.requests),
    'WCU/event': f(total.wcu),
    'RCU/event': f(total.rcu),
    '$ DDB+SQS / M deliveries': f(costPerMillion),
    '$ incl. API+Lambda req / M': f(costPerMillion + 1e6 * PRICE.edge),
  }));
  console.table(table);
  for (const { r } of rows) {
    for (const phase of ['unique', 'duplicate', 'jobs'] as const) {
      const items = Object.entries(r.byOperation[phase])
        .filter(([, e]) => e.wcu > 0 || e.requests >= 0.05)
        .map(([label, e]) => `${label} ${e.requests} req ${e.wcu} WCU`);
      console.log(
        `${r.name} per ${phase === 'jobs' ? 'unique (jobs)' : phase}: ${items.join('; ')}`,
      );
    }
  }
  const [ours, base] = rows;
  if (ours && base) {
    const fewer = 1 - ours.total.requests / base.total.requests;
    console.log(
      `onceflow makes ${f(ours.total.requests)} DynamoDB+SQS requests per delivery vs ${f(base.total.requests)} for the Powertools Idempotency baseline: ${f(fewer * 100, 1)}% fewer; ` +
        `DynamoDB+SQS cost per million deliveries $${f(ours.costPerMillion)} vs $${f(base.costPerMillion)}.`,
    );
    console.log(
      'Units include secondary indexes and the job consumer (per unique message). Write units for failed conditional writes are estimated (DynamoDB Local reports none): 1 per item, 2 per transactional item. Prices: us-east-1 on-demand list.',
    );
  }
  if (json) {
    const figures = Object.fromEntries(
      rows.map(({ r, u, d, j, total, costPerMillion }) => [
        r.name,
        {
          deliveries: r.deliveries,
          uniques: r.uniques,
          duplicates: r.duplicates,
          deliveriesPerSecond: r.deliveries / r.seconds,
          p50Ms: r.p50,
          p99Ms: r.p99,
          non200: r.errors,
          requestsPerDelivery: total.requests,
          wcuPerDelivery: total.wcu,
          rcuPerDelivery: total.rcu,
          dollarsPerMillion: costPerMillion,
          perUnique: { ddbRequests: u.ddb, sqsRequests: u.sqs, wcu: u.wcu, rcu: u.rcu },
          perDuplicate: { ddbRequests: d.ddb, sqsRequests: d.sqs, wcu: d.wcu, rcu: d.rcu },
          /** The job consumer's bookkeeping per unique message (claim and done, or its equivalent). */
          jobsPerUnique: { ddbRequests: j.ddb, wcu: j.wcu, rcu: j.rcu },
          /** The same, itemised by operation and key prefix (per unique, per duplicate, jobs per unique). */
          byOperation: r.byOperation,
        },
      ]),
    );
    const ratios =
      ours && base
        ? {
            dollarsPerMillion: ours.costPerMillion / base.costPerMillion,
            requestsPerDelivery: ours.total.requests / base.total.requests,
            wcuPerDelivery: ours.total.wcu / base.total.wcu,
            deliveriesPerSecond:
              ours.r.deliveries / ours.r.seconds / (base.r.deliveries / base.r.seconds),
          }
        : {};
    console.log(JSON.stringify({ ...figures, ratios }));
  }
}
