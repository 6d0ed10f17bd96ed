/**
 * `npm run bench -- ledger [--users N] [--concurrency C] [--evidence 0.7] [--seed S] [--stagger-ms 20] [--json]`:
 * the seed's race at scale. N users (default 10,000) join `unsigned_users`; 70% of them sign while
 * in the queue. Then, for every user at once and in a seeded random order: the signature evidence
 * (for those who signed), pre-call validation, removal by call completion, and the cleanup sweep.
 *
 * Two runs against the local runtime's DynamoDB Local, same users, same orders:
 * - onceflow: the ledger's domain calls (`recordEvent`, `validateQueue`, `leaveQueue`) and its
 *   cleanup schedule sweeping the whole time (and once after, as the next schedule run would);
 * - baseline: the seed's approach (`ledger-baseline.ts`): conditional queue update, log only if it
 *   matched, plus a one-hour duplicate check; the cleanup cron runs per user in the race and once
 *   more over every signed user after it.
 *
 * Prints conversions owed, logged, missing and doubled, users/s over the race, and DynamoDB
 * requests and write units per user (counted by an SDK middleware during the race only; joins are
 * set-up). `--json`: one JSON object as the last line.
 */
import { randomUUID } from 'node:crypto';
import { withBenchRuntime } from './bench-runtime.js';
import { countDynamoDb, type DynamoDbTally } from './dynamodb-tally.js';

interface Options {
  users: number;
  concurrency: number;
  evidenceShare: number;
  seed: number;
  /** Each contender starts after a random delay up to this many ms, so every order plays out. */
  staggerMs: number;
  json: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const options: Options = {
    users: 10_000,
    concurrency: 32,
    evidenceShare: 0.7,
    seed: 1,
    staggerMs: 20,
    json: false,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = (args[i] ?? '').split('=', 2);
    const value = () => Number(inline ?? args[++i]);
    if (flag === '--users') options.users = value();
    else if (flag === '--concurrency') options.concurrency = value();
    else if (flag === '--evidence') options.evidenceShare = value();
    else if (flag === '--seed') options.seed = value();
    else if (flag === '--stagger-ms') options.staggerMs = value();
    else if (flag === '--json') options.json = true;
  }
  if (!Number.isInteger(options.users) || options.users < 10)
    throw new Error('--users must be ≥ 10');
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    throw new Error('--concurrency must be ≥ 1');
  if (!(options.evidenceShare >= 0 && options.evidenceShare <= 1))
    throw new Error('--evidence must be between 0 and 1');
  return options;
}

interface RunResult {
  name: string;
  owed: number;
  logged: number;
  missing: number;
  doubled: number;
  seconds: number;
  tally: DynamoDbTally;
}

export default async function ledgerBench(args: string[]): Promise<void> {
  const options = parseArgs(args);
  await withBenchRuntime(async () => {
    // Imported only now: SDK clients read the runtime's endpoints when they are created.
    const { dynamodbClient, ddb } = await import('../../functions/kernel/clients.js');
    const { systemClock } = await import('../../functions/kernel/clock.js');
    const { tableName } = await import('../../functions/kernel/config.js');
    const { tenantConfigSchema } = await import('../../functions/tenants/index.js');
    const { testTenantStore } = await import('../support/tenant-store.js');
    const { ledgerDeps, sweepWorkQueues } = await import('../../functions/ledger/index.js');
    const { joinQueue, leaveQueue } = await import('../../functions/ledger/membership.js');
    const { recordEvent } = await import('../../functions/ledger/evidence.js');
    const { validateQueue } = await import('../../functions/ledger/validation.js');
    const { seededRandom, shuffledOrder } = await import('../support/race.js');
    const { seedBaseline } = await import('./ledger-baseline.js');

    const counter = countDynamoDb(dynamodbClient, 'benchCountLedger');

    const random = seededRandom(options.seed);
    const users = Array.from({ length: options.users }, (_, i) => `user-${i}`);
    const signs = new Set(users.filter(() => random() < options.evidenceShare));
    const orders = users.map(() => shuffledOrder(4, random));
    const delays = users.map(() =>
      [0, 1, 2, 3].map(() => Math.floor(random() * options.staggerMs)),
    );

    const pool = async (work: (index: number) => Promise<void>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          while (next < users.length) await work(next++);
        }),
      );
    };

    /** Fires a user's contenders together, in that user's seeded order. */
    const race = (index: number, contenders: Array<(() => Promise<unknown>) | undefined>) =>
      Promise.all(
        (orders[index] ?? [0, 1, 2, 3]).map(async (i, position) => {
          const delay = delays[index]?.[position] ?? 0;
          if (delay > 0) await new Promise((r) => setTimeout(r, delay));
          await contenders[i]?.();
        }),
      );

    const count = async (
      name: string,
      seconds: number,
      logsOf: (u: string) => Promise<number>,
      tally: DynamoDbTally,
    ) => {
      let logged = 0;
      let missing = 0;
      let doubled = 0;
      let stray = 0;
      for (const u of users) {
        const n = await logsOf(u);
        if (n > 0) logged += 1;
        if (n > 1) doubled += n - 1;
        if (signs.has(u) && n === 0) missing += 1;
        if (!signs.has(u) && n > 0) stray += n;
      }
      if (stray > 0) throw new Error(`${name}: ${stray} conversions without evidence`);
      return { name, owed: signs.size, logged, missing, doubled, seconds, tally };
    };

    // --- onceflow ----------------------------------------------------------------------------------
    const tenantId = `bench-ledger-${randomUUID().slice(0, 8)}`;
    await testTenantStore(systemClock).putConfig(
      tenantId,
      tenantConfigSchema.parse({ name: 'ledger bench', defaultCountry: 'IL' }),
    );
    const deps = ledgerDeps();
    const Q = 'unsigned_users';
    await pool(async (i) => {
      await joinQueue(deps, tenantId, Q, users[i] as string);
    });
    const signedAt = new Date(systemClock.now()).toISOString();
    if (!options.json)
      console.log(
        `ledger bench: ${options.users} users, ${signs.size} signed, concurrency ${options.concurrency}`,
      );

    counter.start();
    let started = performance.now();
    let racing = true;
    const cleanupSchedule = (async () => {
      while (racing) {
        await sweepWorkQueues(deps, { tenantId });
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    await pool(async (i) => {
      const u = users[i] as string;
      await race(i, [
        signs.has(u)
          ? () =>
              recordEvent(deps, tenantId, u, {
                type: 'signature_obtained',
                occurredAt: signedAt,
                eventId: `sig-${u}`,
              })
          : undefined,
        () => validateQueue(deps, tenantId, Q, [u]),
        () => leaveQueue(deps, tenantId, Q, u, 'call_completed'),
        undefined, // the cleanup sweep runs as its schedule, the whole time
      ]);
    });
    racing = false;
    await cleanupSchedule;
    await sweepWorkQueues(deps, { tenantId }); // the schedule's next run
    let seconds = (performance.now() - started) / 1000;
    const onceflowTally = counter.stop();
    const onceflow = await count(
      'onceflow',
      seconds,
      async (u) =>
        (await deps.store.conversionsOfUser(tenantId, u, {}, undefined, 100)).items.length,
      onceflowTally,
    );

    // --- baseline ----------------------------------------------------------------------------------
    const baseline = seedBaseline(ddb, tableName('ledger'), randomUUID().slice(0, 8));
    await pool(async (i) => {
      await baseline.join(users[i] as string);
    });
    counter.start();
    started = performance.now();
    await pool(async (i) => {
      const u = users[i] as string;
      await race(i, [
        signs.has(u) ? () => baseline.signed(u, signedAt) : undefined,
        () => baseline.preCallValidation(u),
        () => baseline.callCompleted(u),
        () => baseline.cleanupCron(u),
      ]);
    });
    // The cron's next run over every signed user.
    await pool(async (i) => {
      const u = users[i] as string;
      if (signs.has(u)) await baseline.cleanupCron(u);
    });
    seconds = (performance.now() - started) / 1000;
    const baseTally = counter.stop();
    const base = await count('baseline (seed)', seconds, (u) => baseline.logsOf(u), baseTally);

    report([onceflow, base], options);
  });
}

function report(results: RunResult[], options: Options): void {
  const rows = results.map((r) => ({
    run: r.name,
    owed: r.owed,
    logged: r.logged,
    missing: r.missing,
    doubled: r.doubled,
    'users/s': Math.round(options.users / r.seconds),
    'DDB req/user': Number((r.tally.requests / options.users).toFixed(2)),
    'WCU/user': Number(((r.tally.wcu + r.tally.estimatedWcu) / options.users).toFixed(2)),
  }));
  if (!options.json) {
    console.table(rows);
    console.log(
      'Race phase only (joins are set-up). WCU of failed conditional writes estimated (DynamoDB Local reports none): 1 per item, 2 per transactional item.',
    );
  }
  console.log(
    JSON.stringify({
      bench: 'ledger',
      users: options.users,
      evidenceShare: options.evidenceShare,
      concurrency: options.concurrency,
      seed: options.seed,
      staggerMs: options.staggerMs,
      runs: rows,
    }),
  );
}
