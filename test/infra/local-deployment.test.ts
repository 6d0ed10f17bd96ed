/**
 * The local runtime gives each function what the synthesized stack gives it: the template it reads
 * is the one `cdk synth` writes (without staging assets), each role's statements allow exactly the
 * manifest's grants (a `read` table refuses every write, a table not granted refuses even a read),
 * and the bundles it runs are the stack's bundles byte for byte.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDLER_BUNDLE_FILE, handlerBuildOptions } from '../../lib/bundling/handler-bundle.js';
import { ESBUILD_TARGET } from '../../lib/constructs/onceflow-function.js';
import {
  type DeployedFunction,
  deployedFunctions,
  renderTemplate,
} from '../../lib/local/deployment.js';
import { buildFunctions } from '../../lib/local/function-build.js';
import { isAllowed } from '../../lib/local/iam.js';
import { localTableArn } from '../../lib/local/resources.js';
import { localNames, PROJECT_ROOT } from '../../lib/local/runtime.js';
import { functions, type TableName, tables } from '../../lib/manifest.js';
import { OnceflowStack } from '../../lib/onceflow-stack.js';
import { testApp } from './synth-support.js';

let deployed: Record<string, DeployedFunction>;

beforeAll(async () => {
  deployed = await deployedFunctions({
    projectRoot: PROJECT_ROOT,
    names: localNames('http://127.0.0.1:4566'),
  });
}, 120_000);

describe('the template the local runtime reads', () => {
  it('is the synthesized one: every function and every policy as `Template.fromStack` has them', () => {
    // Prepare
    const stack = new OnceflowStack(testApp(), 'OnceflowStack');

    // Act
    const rendered = renderTemplate(stack).Resources;
    const synthesized = Template.fromStack(stack).toJSON().Resources as typeof rendered;

    // Assess
    // What the runtime reads: every function's and role's properties (the synthesizer adds only
    // `DependsOn` orderings after the template is rendered).
    const relevant = (resources: typeof rendered) =>
      Object.fromEntries(
        Object.entries(resources)
          .filter(([, r]) =>
            ['AWS::Lambda::Function', 'AWS::IAM::Policy', 'AWS::IAM::Role'].includes(r.Type),
          )
          .map(([id, r]) => [id, { Type: r.Type, Properties: r.Properties }]),
      );
    expect(relevant(rendered)).toEqual(relevant(synthesized));
    expect(Object.keys(relevant(rendered)).length).toBeGreaterThan(Object.keys(functions).length);
  });

  it('gives every function its table names and queue URLs, resolved to the local ones', () => {
    const change = deployed.changeCampaignState?.environment;
    expect(change?.ONCEFLOW_TABLE_CAMPAIGNS).toBe('onceflow-campaigns');
    expect(change?.ONCEFLOW_QUEUE_FANOUT_URL).toBe(
      'http://127.0.0.1:4566/000000000000/onceflow-fanout.fifo',
    );
    expect(change?.ONCEFLOW_QUEUE_SENDS_URL).toBe(
      'http://127.0.0.1:4566/000000000000/onceflow-sends.fifo',
    );
    expect(deployed.sendCampaignMessage?.environment.WHATSAPP_API_BASE_URL).toBe(
      'https://graph.facebook.com',
    );
  });
});

describe("each function's role", () => {
  const writes = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'];
  const reads = ['GetItem', 'Query', 'BatchGetItem', 'ConditionCheckItem'];

  it('allows reads of every table it holds, writes only where it holds readWrite, nothing else', () => {
    for (const [name, spec] of Object.entries(functions)) {
      const statements = deployed[name]?.statements ?? [];
      for (const table of Object.keys(tables) as TableName[]) {
        const access = spec.tables[table];
        const resource = localTableArn(table);
        for (const action of reads) {
          expect(
            isAllowed(statements, { action: `dynamodb:${action}`, resource }),
            `${name} ${action} on ${table}`,
          ).toBe(access !== undefined);
        }
        for (const action of writes) {
          expect(
            isAllowed(statements, { action: `dynamodb:${action}`, resource }),
            `${name} ${action} on ${table}`,
          ).toBe(access === 'readWrite');
        }
        // A table's indexes come with it: `<table>/index/*`.
        expect(
          isAllowed(statements, { action: 'dynamodb:Query', resource: `${resource}/index/sweep` }),
          `${name} Query on ${table}/index/sweep`,
        ).toBe(access !== undefined && tables[table].indexes.length > 0);
      }
    }
  });
});

describe('the bundles the local runtime runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onceflow-local-bundles-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are the stack’s bundles, byte for byte', async () => {
    // Prepare: two functions, each built as `OnceflowFunction` builds it (one entry, `index.mjs`).
    const names = ['getHealth', 'changeCampaignState'] as const;
    const entries = {
      getHealth: 'functions/health/handlers/get-health.ts',
      changeCampaignState: functions.changeCampaignState?.entry ?? '',
    };
    for (const name of names) {
      await build(
        handlerBuildOptions({
          entry: join(PROJECT_ROOT, entries[name]),
          outfile: join(dir, 'stack', name, HANDLER_BUNDLE_FILE),
          target: ESBUILD_TARGET,
        }),
      );
    }

    // Act: the local runtime's build of the same functions, in one esbuild run.
    const built = await buildFunctions({
      mode: 'bundles',
      projectRoot: PROJECT_ROOT,
      target: ESBUILD_TARGET,
      entries,
      cacheDir: join(dir, 'cache'),
    });

    // Assess
    for (const name of names) {
      const local = readFileSync(new URL(built.modules[name] ?? ''));
      const stack = readFileSync(join(dir, 'stack', name, HANDLER_BUNDLE_FILE));
      expect(local.equals(stack), name).toBe(true);
    }
  }, 300_000);
});
