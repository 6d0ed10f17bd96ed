/**
 * `npx onceflow`: the ops CLI. Works against the local runtime by default (`npm start`), or a
 * deployed stack with `--stack NAME` and the usual AWS credentials and region. Every command that
 * writes is a dry run unless `--execute`. `--json` prints one JSON document instead of text.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { quietStoreTelemetry, resolveTarget, type Target } from '../lib/cli/target.js';
import {
  type FunctionName,
  functions as manifestFunctions,
  type QueueName,
  queues,
} from '../lib/manifest.js';

const PHONE_LIKE = /^\+?\d{7,}$/;

quietStoreTelemetry();

const program = new Command();
program
  .name('onceflow')
  .description('onceflow ops CLI: import, audit, dead-letter queues, inspect, reconcile')
  .option(
    '--stack <name>',
    'a deployed stack (CloudFormation outputs) instead of the local runtime',
  )
  .option('--json', 'print one JSON document');

interface GlobalOptions {
  stack?: string;
  json?: boolean;
}

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>();
}

function print(json: unknown, text: () => string): void {
  process.stdout.write(`${globals().json ? JSON.stringify(json, null, 2) : text()}\n`);
}

function progressBar(total: number, label: string): { tick(n: number): void; stop(): void } {
  if (globals().json || !process.stderr.isTTY || total === 0) return { tick() {}, stop() {} };
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total} ({percentage}%)`,
    stream: process.stderr,
    hideCursor: true,
  });
  bar.start(total, 0);
  return { tick: (n) => bar.update(n), stop: () => bar.stop() };
}

async function withTarget<T>(run: (target: Target) => Promise<T>): Promise<T> {
  const target = await resolveTarget({ stack: globals().stack });
  try {
    return await run(target);
  } finally {
    target.close();
  }
}

function queueName(value: string): QueueName {
  if (!(value in queues)) {
    throw new InvalidArgumentError(`one of: ${Object.keys(queues).join(', ')}`);
  }
  return value as QueueName;
}

const JOBS_NOTE = {
  recent: 'for messages under a day old only (--jobs all|none to change)',
  all: 'for every imported inbound message',
  none: 'none',
} as const;

function jobsPolicy(value: string): 'recent' | 'all' | 'none' {
  if (value !== 'recent' && value !== 'all' && value !== 'none') {
    throw new InvalidArgumentError('one of: recent, all, none');
  }
  return value;
}

/** `1 message`, `2 messages`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

const dryRunNote = (execute: boolean | undefined) =>
  execute ? '' : '\n(dry run: add --execute to write)';

// import conversations FILE
program
  .command('import')
  .description('import legacy data')
  .command('conversations')
  .description(
    'legacy conversations (JSON lines) into onceflow, one conversation per person, each message stored under the key its live webhook uses',
  )
  .argument('<file>', 'JSON lines, one legacy conversation each')
  .option('--execute', 'write (default: dry run)')
  .option(
    '--jobs <which>',
    'post-processing jobs (lead match, AI triage) for: recent (messages under a day old), all, none',
    jobsPolicy,
    'recent',
  )
  .option('--verbose', 'list every person and refused row (default: a summary)')
  .action(
    async (
      file: string,
      options: { execute?: boolean; jobs: 'recent' | 'all' | 'none'; verbose?: boolean },
    ) => {
      const { parseLegacyLines, planImport, executeImport, attachImportedLeads } = await import(
        '../lib/cli/import-conversations.js'
      );
      await withTarget(async (target) => {
        const { DynamoDbTenantStore } = await import('../functions/tenants/index.js');
        const { systemClock } = await import('../functions/kernel/clock.js');
        // The target's own tenants table (a deployed stack's, with --stack), never the environment's.
        const tenants = new DynamoDbTenantStore(target.ddb, target.tables.tenants, systemClock);
        const { rows, refused } = parseLegacyLines(readFileSync(file, 'utf8'));
        const countries = new Map<string, string | undefined>();
        for (const tenantId of new Set(rows.map((r) => r.conversation.tenantId))) {
          countries.set(
            tenantId,
            (await tenants.get(tenantId, { consistent: true }))?.defaultCountry,
          );
        }
        const plan = planImport(rows, refused, (t) => countries.get(t));
        let result:
          | { written: number; alreadyThere: number; withJobs: number; conversations: number }
          | undefined;
        if (options.execute) {
          const { storeMessage } = await import('../functions/conversations/index.js');
          const deps = {
            ddb: target.ddb,
            sqs: target.sqs,
            clock: systemClock,
            table: target.tables.inbound,
            jobsQueueUrl: target.queues.jobs.url,
          };
          const bar = progressBar(plan.messages, 'messages');
          const done = await executeImport(
            plan,
            storeMessage,
            deps,
            { jobs: options.jobs, now: systemClock.now() },
            bar.tick,
          );
          bar.stop();
          await attachImportedLeads(plan, deps);
          result = {
            written: done.written,
            alreadyThere: done.alreadyThere,
            withJobs: done.withJobs,
            conversations: done.conversations.size,
          };
        }
        const report = {
          target: target.label,
          execute: options.execute === true,
          jobs: options.jobs,
          legacyConversations: plan.ordered.length,
          persons: plan.persons.length,
          messages: plan.messages,
          refused: plan.refused,
          personsDetail: plan.persons,
          ...(result ? { result } : {}),
        };
        const shownRefused = options.verbose ? plan.refused : plan.refused.slice(0, 5);
        print(
          report,
          () =>
            [
              `target: ${target.label}`,
              `${count(plan.ordered.length, 'legacy conversation')} → ${count(plan.persons.length, 'person')}, ${count(plan.messages, 'message')}`,
              ...(options.verbose
                ? plan.persons.map(
                    (p) =>
                      `  ${p.tenantId} ${maskTail(p.person)}: ${p.legacyIds.join(', ')} (${count(p.messages, 'message')})`,
                  )
                : []),
              `${count(plan.refused.length, 'row')} refused${plan.refused.length > 0 ? ':' : ''}`,
              ...shownRefused.map(
                (r) => `  line ${r.line}${r.legacyId ? ` (${r.legacyId})` : ''}: ${r.reason}`,
              ),
              ...(shownRefused.length < plan.refused.length
                ? [
                    `  … and ${plan.refused.length - shownRefused.length} more (--verbose lists them)`,
                  ]
                : []),
              ...(result
                ? [
                    `written: ${count(result.written, 'message')} (${result.withJobs} with post-processing jobs); already there: ${result.alreadyThere}; ${count(result.conversations, 'conversation')}`,
                  ]
                : [`post-processing jobs: ${JOBS_NOTE[options.jobs]}`]),
            ].join('\n') + dryRunNote(options.execute),
        );
      });
    },
  );

// conversations audit
program
  .command('conversations')
  .description('conversation maintenance')
  .command('audit')
  .description('persons with more than one conversation, and the merges that fix them')
  .option('--execute', 'merge (default: dry run)')
  .action(async (options: { execute?: boolean }) => {
    const { readAuditInput, planMerges } = await import('../lib/cli/audit-conversations.js');
    await withTarget(async (target) => {
      const merges = planMerges(await readAuditInput(target.ddb, target.tables.inbound));
      let moved = 0;
      if (options.execute && merges.length > 0) {
        const { foldConversations } = await import('../functions/conversations/index.js');
        const { systemClock } = await import('../functions/kernel/clock.js');
        const ctx = { ddb: target.ddb, clock: systemClock, table: target.tables.inbound };
        const bar = progressBar(merges.length, 'merges');
        for (const [i, merge] of merges.entries()) {
          // A lead's conversation survives as the lead's; otherwise the fold keeps the first key.
          const [kind, , ...rest] = merge.intoKey.split(':');
          const leadId = kind === 'lead' ? rest.join(':') : undefined;
          const folded = await foldConversations(ctx, merge.tenantId, {
            ...(leadId ? { leadId } : {}),
            keys: [merge.intoKey, ...merge.fromKeys],
          });
          moved += folded.merged;
          bar.tick(i + 1);
        }
        bar.stop();
      }
      print(
        { target: target.label, execute: options.execute === true, merges, messagesMoved: moved },
        () =>
          [
            `target: ${target.label}`,
            merges.length === 0
              ? 'every person has one conversation: nothing to merge'
              : `${merges.length} persons with more than one conversation:`,
            ...merges.map(
              (m) => `  ${m.tenantId} ${maskTail(m.person)}: ${m.from.join(', ')} → ${m.into}`,
            ),
            ...(options.execute ? [`messages moved: ${moved}`] : []),
          ].join('\n') + (merges.length > 0 ? dryRunNote(options.execute) : ''),
      );
    });
  });

// dlq list|replay QUEUE
const dlq = program.command('dlq').description('dead-letter queues');
dlq
  .command('list')
  .argument('<queue>', 'jobs, sends or fanout', queueName)
  .action(async (queue: QueueName) => {
    const { listDeadLetters } = await import('../lib/cli/dlq.js');
    await withTarget(async (target) => {
      const letters = await listDeadLetters(target.sqs, target.queues[queue].dlqUrl);
      print({ target: target.label, queue, messages: letters }, () =>
        [
          `${queue} dead-letter queue: ${letters.length} messages`,
          ...letters.map(
            (l) =>
              `  ${l.messageId} group=${l.groupId ?? '-'} receives=${l.receiveCount} ${l.sentAt ?? ''} ${l.body.slice(0, 200)}`,
          ),
        ].join('\n'),
      );
    });
  });
dlq
  .command('replay')
  .argument('<queue>', 'jobs, sends or fanout', queueName)
  .option('--execute', 'move the messages (default: dry run)')
  .action(async (queue: QueueName, options: { execute?: boolean }) => {
    const { listDeadLetters, replayDeadLetters } = await import('../lib/cli/dlq.js');
    await withTarget(async (target) => {
      const { url, dlqUrl } = target.queues[queue];
      const waiting = await listDeadLetters(target.sqs, dlqUrl);
      let replayed = 0;
      if (options.execute) {
        const bar = progressBar(waiting.length, 'replayed');
        replayed = await replayDeadLetters(target.sqs, dlqUrl, url, bar.tick);
        bar.stop();
      }
      print(
        { target: target.label, queue, waiting: waiting.length, replayed },
        () =>
          `${queue}: ${waiting.length} dead letters${options.execute ? `; ${replayed} replayed into the queue` : ''}${dryRunNote(options.execute)}`,
      );
    });
  });

// inspect
const inspect = program.command('inspect').description('a stored dedupe record or work item');
inspect
  .command('webhook')
  .argument('<id>', 'message id (m_…) or provider message id (with --tenant)')
  .option('--tenant <tenantId>')
  .action(async (id: string, options: { tenant?: string }) => {
    const { inspectWebhook } = await import('../lib/cli/inspect.js');
    await withTarget(async (target) => {
      const item = await inspectWebhook(target.ddb, target.tables.inbound, id, options.tenant);
      found(item, `no stored webhook message ${id}`);
    });
  });
inspect
  .command('recipient')
  .argument('<phone>')
  .requiredOption('--tenant <tenantId>')
  .requiredOption('--campaign <campaignId>')
  .action(async (phone: string, options: { tenant: string; campaign: string }) => {
    const { inspectRecipient } = await import('../lib/cli/inspect.js');
    await withTarget(async (target) => {
      const item = await inspectRecipient(
        target.ddb,
        target.tables.campaigns,
        phone,
        options.tenant,
        options.campaign,
      );
      found(item, `no recipient ${maskTail(phone)} in campaign ${options.campaign}`);
    });
  });
for (const [kind, attribute] of [
  ['conversion', 'conversionId'],
  ['order', 'orderId'],
] as const) {
  inspect
    .command(kind)
    .argument('<id>')
    .action(async (id: string) => {
      const { inspectByAttribute } = await import('../lib/cli/inspect.js');
      await withTarget(async (target) => {
        const items = await inspectByAttribute(
          target.ddb,
          Object.values(target.tables),
          attribute,
          id,
        );
        found(items.length > 0 ? items : undefined, `no item with ${attribute} ${id}`);
      });
    });
}

function found(item: unknown, missing: string): void {
  if (item === undefined) {
    process.stderr.write(`${missing}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${JSON.stringify(item, null, 2)}\n`);
}

// reconcile counters|conversions
const reconcile = program.command('reconcile').description('recount and compare');
reconcile
  .command('counters')
  .description(
    "recount campaigns' recipients against their folded counts, per fold group of 16 shards (groups quiet for the fold's lag bound); --execute sets drifting ones to the recount and moves quiet ones still read from per-shard items into their groups",
  )
  .option('--execute', 'repair drifting fold groups (default: dry run, report only)')
  .option('--tenant <tenantId>', "only this tenant's campaigns (from its campaign listing)")
  .option('--campaign <campaignId>', 'only this campaign (needs --tenant)')
  .action(async (options: { execute?: boolean; tenant?: string; campaign?: string }) => {
    if (options.campaign && !options.tenant) {
      throw new InvalidArgumentError('--campaign needs --tenant');
    }
    const { dynamoCampaignStore, repairCampaignCounters } = await import(
      '../functions/campaigns/index.js'
    );
    const { systemClock } = await import('../functions/kernel/clock.js');
    type Repair = Awaited<ReturnType<typeof repairCampaignCounters>>;
    const { campaignsToRecount } = await import('../lib/cli/reconcile-counters.js');
    await withTarget(async (target) => {
      const table = target.tables.campaigns;
      const results: Repair[] = [];
      for await (const campaign of campaignsToRecount(target.ddb, table, options)) {
        results.push(
          await repairCampaignCounters(
            { store: dynamoCampaignStore(target.ddb, table), clock: systemClock },
            campaign,
            options.execute === true,
          ),
        );
      }
      const drift = results.reduce((n, r) => n + r.drift, 0);
      const unsettled = results.reduce((n, r) => n + r.unsettledShards, 0);
      const inconclusive = results.reduce((n, r) => n + r.inconclusiveShards, 0);
      const movedIn = results.reduce((n, r) => n + r.movedInGroups, 0);
      if (unsettled > 0) process.exitCode = 1;
      print(
        { target: target.label, execute: options.execute === true, drift, campaigns: results },
        () =>
          [
            `${results.length} campaigns recounted; drift total ${drift}${options.execute ? ` (repaired${unsettled ? `, ${unsettled} shards (fold groups of 16) not settled: run again` : ''})` : ''}`,
            ...(inconclusive > 0
              ? [
                  `  ${inconclusive} shards (fold groups of 16) written within the fold's lag bound (or folding meanwhile): not compared, run again in a minute`,
                ]
              : []),
            ...(movedIn > 0
              ? [
                  `  ${movedIn} fold groups without drift moved in from the per-shard items of before the groups (counts unchanged)`,
                ]
              : []),
            ...results
              .filter((r) => r.drift > 0)
              .map(
                (r) =>
                  `  ${r.tenantId}/${r.campaignId}: drift ${r.drift} in fold groups ${r.groups
                    .filter((g) => g.drift > 0)
                    .map((g) => `${g.group} (shards ${g.shards[0]}-${g.shards.at(-1)})`)
                    .join(', ')}`,
              ),
          ].join('\n') + dryRunNote(options.execute),
      );
    });
  });
reconcile
  .command('conversions')
  .description("run the conversion ledger's reconciliation (the ConversionsReconciled schedule)")
  .option('--execute', 'run it now (default: say what would run)')
  .action(async (options: { execute?: boolean }) => {
    // The ledger's reconciliation schedule, by its manifest name (a FunctionName: a rename fails tsc).
    const name = 'reconcileConversions' satisfies FunctionName;
    const spec = manifestFunctions[name];
    if (!options.execute) {
      print(
        { function: name, entry: spec.entry },
        () => `would run ${name} (${spec.entry})${dryRunNote(false)}`,
      );
      return;
    }
    if (globals().stack) {
      print(
        { function: name },
        () =>
          `on AWS, run: aws lambda invoke --function-name <${name} function of the stack> --payload '{"schedule":"${name}"}' out.json`,
      );
      return;
    }
    await withTarget(async () => {
      const module = (await import(join(process.cwd(), spec.entry))) as {
        handler: (event: unknown, context: unknown) => Promise<unknown>;
      };
      const result = await module.handler(
        { schedule: name },
        { functionName: name, awsRequestId: 'cli' },
      );
      print({ function: name, result }, () => `${name}: ${JSON.stringify(result)}`);
    });
  });

// docs: regenerate the generated parts of docs/
program
  .command('docs')
  .description(
    "regenerate docs/openapi.json, docs/api.md's route table, docs/runbook.md's metrics table and docs/deploy.md's cost table",
  )
  .action(async () => {
    const { generatedDocs } = await import('../lib/docs.js');
    const files = generatedDocs((path) => readFileSync(path, 'utf8'));
    for (const file of files) writeFileSync(file.path, file.text);
    // The alarm, secret and key figures of docs/deploy.md, counted from the synthesized template
    // (checked by test/infra/stack-costs.test.ts).
    const { countStack, deployedTemplate, renderCostTable, withCostTable } = await import(
      '../lib/stack-costs.js'
    );
    const { App } = await import('aws-cdk-lib');
    const { OnceflowStack } = await import('../lib/onceflow-stack.js');
    const cdkJson = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context?: object };
    const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
    const counts = countStack(deployedTemplate(new OnceflowStack(app, 'Docs')));
    const deploy = readFileSync('docs/deploy.md', 'utf8');
    writeFileSync('docs/deploy.md', withCostTable(deploy, renderCostTable(counts)));
    process.stdout.write(`wrote ${[...files.map((f) => f.path), 'docs/deploy.md'].join(', ')}\n`);
  });

/** Phones stay out of terminal scrollback: the last two digits are enough to match a ticket. */
function maskTail(value: string): string {
  return PHONE_LIKE.test(value) ? `***${value.slice(-2)}` : value;
}

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`onceflow: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
