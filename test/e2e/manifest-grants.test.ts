/**
 * The local runtime holds a function to what its manifest entry gives it, as AWS does: a function
 * whose entry lacks a queue it uses, or holds a table read-only that it writes, fails its flow here
 * exactly as it would deployed — and a function sees exactly its template environment, nothing of
 * the shell's or of another function's.
 *
 * One runtime per way of running functions (the TypeScript sources of `npm start`, the deployed
 * bundles), in this process, on a variant of the manifest:
 * - `changeCampaignState` as the manifest had it before issue 19 (no `sends` queue): `fanoutDeps()`
 *   reads both queue URLs, so a start answers 500 with the ConfigurationError AWS logged;
 * - `putLead` with the inbound table read-only: its write is refused by IAM (AccessDeniedException);
 * - `envProbe`, a test function answering its own `process.env`.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeMode } from '../../lib/local/function-build.js';
import { type LocalRuntime, startLocalRuntime } from '../../lib/local/runtime.js';
import { type FunctionSpec, functions } from '../../lib/manifest.js';
import { MANIFEST, OnceflowStack } from '../../lib/onceflow-stack.js';
import { pollUntil } from '../support/poll.js';
import { createCampaign, http, phoneAt, setupTenant } from './campaign-driver.js';

const ADMIN = 'grants-admin-key';
/** A shell variable no function may see. */
const SHELL_ONLY = 'ONCEFLOW_TEST_SHELL_ONLY';

const variant: Readonly<Record<string, FunctionSpec>> = {
  ...functions,
  changeCampaignState: { ...(functions.changeCampaignState as FunctionSpec), sendsTo: ['fanout'] },
  putLead: { ...(functions.putLead as FunctionSpec), tables: { tenants: 'read', inbound: 'read' } },
  envProbe: {
    entry: 'test/fixtures/functions/env-probe.ts',
    description: 'test: answers its own environment',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/test/env' }] },
    tables: { tenants: 'read' },
  },
};

/** What only the local runtime adds to a function's template environment (`functionEnvironment`). */
const LOCAL_OVERLAY = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_SQS',
  'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  'ONCEFLOW_LOCAL',
  'ONCEFLOW_FAILPOINTS',
  'POWERTOOLS_TRACE_ENABLED',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
];

let probeVariables: string[] | undefined;

/** The probe's environment variables in the synthesized template (CDK's own assertions). */
function probeTemplateVariables(): string[] {
  probeVariables ??= synthesizeProbeVariables();
  return probeVariables;
}

function synthesizeProbeVariables(): string[] {
  const context = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'))
    .context as Record<string, unknown>;
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  const stack = new OnceflowStack(app, 'Probe', { manifest: { ...MANIFEST, functions: variant } });
  const resources = Template.fromStack(stack).findResources('AWS::Lambda::Function', {
    Properties: { Description: 'test: answers its own environment' },
  });
  const [probe] = Object.values(resources) as Array<{
    Properties: { Environment: { Variables: Record<string, unknown> } };
  }>;
  return Object.keys(probe?.Properties.Environment.Variables ?? {});
}

describe.each<RuntimeMode>(['sources', 'bundles'])('functions run as %s', (mode) => {
  let runtime: LocalRuntime;
  let dataDir: string;
  const runtimeLines: string[] = [];
  const output: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const originalWrites = streams.map((stream) => stream.write);
  const savedAdmin = process.env.ONCEFLOW_ADMIN_KEY;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'onceflow-grants-'));
    process.env.ONCEFLOW_ADMIN_KEY = ADMIN;
    process.env[SHELL_ONLY] = 'leaked';
    // The functions' logs (errors go to stderr) reach this process; keep them to read what AWS logs.
    streams.forEach((stream, i) => {
      const original = originalWrites[i] as (...args: unknown[]) => boolean;
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        output.push(String(chunk));
        return original.call(stream, chunk, ...rest);
      }) as typeof stream.write;
    });
    runtime = await startLocalRuntime({
      port: 0,
      simPort: 0,
      dynamodbPort: 0,
      sqsPort: 0,
      dataDir,
      inMemory: true,
      schedules: false,
      runtime: mode,
      functions: variant,
      log: (line) => runtimeLines.push(line),
    });
  });

  afterAll(async () => {
    await runtime?.stop();
    streams.forEach((stream, i) => {
      stream.write = originalWrites[i] as typeof stream.write;
    });
    delete process.env[SHELL_ONLY];
    if (savedAdmin === undefined) delete process.env.ONCEFLOW_ADMIN_KEY;
    else process.env.ONCEFLOW_ADMIN_KEY = savedAdmin;
    rmSync(dataDir, { recursive: true, force: true });
  });

  const urls = () => ({ apiUrl: runtime.urls.api, simUrl: runtime.urls.sim });
  // A worker's output reaches this process on its own channel, a moment after its answer.
  const loggedLine = (pattern: RegExp) =>
    pollUntil(() => output.join('').match(pattern), { description: `a log line ${pattern}` });

  it('a campaign start fails (500) when the function lacks the sends queue its deps read', async () => {
    // Prepare
    const tenantId = `grants-${mode}-campaign`;
    const apiKey = await setupTenant(urls(), ADMIN, {
      tenantId,
      phoneNumberId: `pn-${tenantId}`,
      messagesPerSecond: 80,
    });
    const { campaignId } = await createCampaign(
      urls(),
      apiKey,
      `pn-${tenantId}`,
      [phoneAt(1), phoneAt(2)],
      tenantId,
    );

    // Act
    const started = await http(runtime.urls.api, 'POST', `/v1/campaigns/${campaignId}/start`, {
      token: apiKey,
    });

    // Assess: AWS's answer and AWS's log line.
    expect(started.status).toBe(500);
    await loggedLine(
      /ConfigurationError[^\n]*environment variable ONCEFLOW_QUEUE_SENDS_URL is not set/,
    );
  });

  it('a write to a table the function holds read-only is refused by IAM (500)', async () => {
    // Prepare
    const tenantId = `grants-${mode}-lead`;
    const apiKey = await setupTenant(urls(), ADMIN, {
      tenantId,
      phoneNumberId: `pn-${tenantId}`,
      messagesPerSecond: 80,
    });

    // Act
    const put = await http(runtime.urls.api, 'PUT', '/v1/leads/lead-1', {
      token: apiKey,
      body: { name: 'Dana', phones: [phoneAt(3)] },
    });

    // Assess
    expect(put.status).toBe(500);
    const refusal = runtimeLines.find((line) => line.startsWith('[iam] putLead:'));
    expect(refusal).toMatch(/dynamodb:\w+ refused \(dynamodb:(PutItem|UpdateItem|DeleteItem)/);
    expect(refusal).toContain(':table/onceflow-inbound');
    await loggedLine(/"function_name":"onceflow-putLead"[^\n]*AccessDeniedException/);
  });

  it('a function sees exactly its template environment and the local overlay', async () => {
    // Act
    const answer = await http(runtime.urls.api, 'GET', '/test/env');
    const env = answer.json.env as Record<string, string>;

    // Assess
    expect(answer.status).toBe(200);
    expect(env).toEqual(runtime.functionEnvironments.envProbe);
    expect(Object.keys(env).sort()).toEqual(
      [...new Set([...probeTemplateVariables(), ...LOCAL_OVERLAY])].sort(),
    );
    expect(env.ONCEFLOW_TABLE_TENANTS).toBe('onceflow-tenants');
    expect(env).not.toHaveProperty('ONCEFLOW_TABLE_CAMPAIGNS');
    expect(env).not.toHaveProperty(SHELL_ONLY);
    expect(env).not.toHaveProperty('ONCEFLOW_ADMIN_KEY');
    expect(env.AWS_ENDPOINT_URL_DYNAMODB).not.toBe(runtime.urls.dynamodb);
  });
});
