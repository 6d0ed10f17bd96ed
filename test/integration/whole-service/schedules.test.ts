/**
 * Scheduled functions are safe when AWS runs two at once (EventBridge Scheduler invokes
 * asynchronously every interval; a run can outlast its interval; Lambda retries a failed async run):
 * every scheduled function of the manifest holds its schedule's lease for its run, so two real
 * handler invocations fired together never work at the same time. Each race slows every DynamoDB
 * call but the lease's own, so the first run is still working when the second arrives, whatever
 * the stagger. The lease lives in a table the function's manifest entry lets it write.
 *
 * `uploadOciConversions` is left out: the Google Ads uploader takes a lease per request (the OCI
 * work owns it).
 *
 * The file provisions its own tables and queues (a private prefix): its sweeps see only its data,
 * and its leases never meet another file's runs.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { functions } from '../../../lib/manifest.js';
import { fakeLambdaContext } from '../../support/lambda-context.js';
import { raceTrials } from '../../support/race.js';

const { provision } = await import('../../../lib/local/provision.js');
const endpoints = inject('onceflowEndpoints');
Object.assign(
  process.env,
  await provision({
    dynamodbEndpoint: endpoints.dynamodb,
    sqsEndpoint: endpoints.sqs,
    prefix: `schedules-${randomUUID().slice(0, 8)}`,
  }),
);
const { ddb } = await import('../../../functions/kernel/clients.js');
const { tableName } = await import('../../../functions/kernel/config.js');
const { scheduleLeaseKey } = await import('../../../functions/kernel/schedule.js');
const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
const { PROJECT_ROOT } = await import('../../../lib/local/runtime.js');

const context = fakeLambdaContext({ functionName: 'schedule-race', remainingMs: 120_000 });

type Handler = (event: unknown, context: Context) => Promise<unknown>;

// The uploader holds a lease per request instead (`oci-provider.test.ts`); a schedule granted no
// table (the daily provider-version check) writes nothing, so two runs at once only count its
// metric twice, which its alarm (> 0) reads the same.
const scheduled = Object.entries(functions).filter(
  ([name, spec]) =>
    spec.trigger.kind === 'schedule' &&
    name !== 'uploadOciConversions' &&
    Object.keys(spec.tables).length > 0,
);

/** Every DynamoDB call but the schedule lease's own waits `ms` first. */
function slowDynamoDb(ms: number): void {
  const realSend = ddb.send.bind(ddb);
  vi.spyOn(ddb, 'send').mockImplementation((async (command: { input?: unknown }) => {
    if (!JSON.stringify(command.input ?? {}).includes('SCHEDULE#')) {
      await new Promise((r) => setTimeout(r, ms));
    }
    return realSend(command as never);
  }) as never);
}

afterEach(() => {
  vi.restoreAllMocks();
});

const isSkipped = (value: unknown) =>
  (value as { skipped?: unknown } | undefined)?.skipped ===
  'another run of this schedule holds its lease';

describe('two runs of a schedule at once', () => {
  it('covers every scheduled function but the uploader and those that write nothing', () => {
    expect(scheduled.map(([name]) => name).sort()).toEqual(
      [
        'reconcileCampaignCounters',
        'reconcileConversions',
        'reconcileReplies',
        'recoverCampaigns',
        'recoverJobs',
        'recoverStaleOciRows',
        'sweepEvents',
        'sweepWorkQueues',
      ].sort(),
    );
  });

  it.each(scheduled)('%s: one works, the other stops at once', async (name, spec) => {
    const { handler } = (await import(pathToFileURL(resolve(PROJECT_ROOT, spec.entry)).href)) as {
      handler: Handler;
    };
    slowDynamoDb(40);
    const report = await raceTrials({
      trials: 4,
      maxStaggerMs: 20,
      setup: () => ({}),
      contenders: () => [
        () => handler({ schedule: name }, context),
        () => handler({ schedule: name }, context),
      ],
      check: (_state, outcomes) => {
        const values = outcomes.map((o) => {
          if (o.status !== 'fulfilled') throw new Error(`a run threw: ${String(o.reason)}`);
          return o.value;
        });
        expect(values.filter(isSkipped)).toHaveLength(1);
        expect(values.filter((v) => !isSkipped(v))).toHaveLength(1);
      },
    });
    expect(report.failures).toEqual([]);
    vi.restoreAllMocks();
    // And the next firing, alone, works: the lease was released.
    expect(isSkipped(await handler({ schedule: name }, context))).toBe(false);

    // The lease item is in one of the tables the function may write, and only there.
    const writable = Object.entries(spec.tables)
      .filter(([, access]) => access === 'readWrite')
      .map(([table]) => table as Parameters<typeof tableName>[0]);
    const holders: string[] = [];
    for (const table of writable) {
      const item = await ddb.send(
        new GetCommand({
          TableName: tableName(table),
          Key: scheduleLeaseKey(name),
          ConsistentRead: true,
        }),
      );
      if (item.Item) holders.push(table);
    }
    expect(holders).toHaveLength(1);
  });
});
