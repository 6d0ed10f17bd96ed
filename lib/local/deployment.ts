/**
 * What each function is on AWS, read from the stack itself: the app `cdk synth` builds
 * (`OnceflowStack` with cdk.json's feature flags, bundling skipped) rendered to its CloudFormation
 * template, and from each function's resources there its environment variables and the policy
 * statements of its role. These come from the construct's `bind*` calls and nothing else, so the
 * local runtime gives a function exactly what the deployed one gets: never a second list. References
 * to the stack's tables, queues and secrets are resolved to the local runtime's names.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FunctionSpec, QueueName, SecretName, TableName } from '../manifest.js';
import type { OnceflowStackProps } from '../onceflow-stack.js';
import { type PolicyStatement, readStatement } from './iam.js';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './resources.js';

/** How a deployed resource is known locally: what `Ref` and `Fn::GetAtt` resolve to. */
export interface LocalResource {
  /** What `{"Ref": ...}` gives (a table's name, a queue's URL, a secret's ARN). */
  readonly ref: string;
  /** What `{"Fn::GetAtt": [..., "Arn"]}` gives. */
  readonly arn: string;
  /** A table's `{"Fn::GetAtt": [..., "StreamArn"]}`, when its stream is on. */
  readonly streamArn?: string;
}

export interface LocalResourceNames {
  table(name: TableName): LocalResource;
  queue(name: QueueName): LocalResource;
  deadLetterQueue(name: QueueName): LocalResource;
  /** A stream-triggered function's on-failure queue, by the function's name. */
  streamDeadLetterQueue(functionName: string): LocalResource;
  secret(name: SecretName): LocalResource;
}

export interface DeployedFunction {
  /** The manifest's name, e.g. `putTenant`. */
  readonly name: string;
  /** The Lambda function's logical id in the template. */
  readonly logicalId: string;
  readonly spec: FunctionSpec;
  /** The template's `Environment.Variables`, resolved to local names. */
  readonly environment: Readonly<Record<string, string>>;
  /** Every statement of the policies attached to the function's role, resolved to local ARNs. */
  readonly statements: readonly PolicyStatement[];
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** Its Lambda runtime, e.g. `nodejs24.x` (the bundles' esbuild target follows from it). */
  readonly runtime: string;
}

/** The settings `bin/onceflow.ts` could pass the stack; locally they come from the shell. */
export type StackSettings = Pick<
  OnceflowStackProps,
  'leaseSeconds' | 'reconcileWindowSeconds' | 'providerTimeoutSeconds' | 'ociStaleSeconds'
>;

/** The stack settings a shell sets through the variables the kernel reads (unset: the stack default). */
export function stackSettingsFromEnvironment(env: NodeJS.ProcessEnv): StackSettings {
  const seconds = (name: string) => (env[name] ? Number(env[name]) : undefined);
  const settings: Record<string, number | undefined> = {
    leaseSeconds: seconds('ONCEFLOW_LEASE_SECONDS'),
    reconcileWindowSeconds: seconds('ONCEFLOW_RECONCILE_WINDOW_SECONDS'),
    providerTimeoutSeconds: seconds('ONCEFLOW_PROVIDER_TIMEOUT_SECONDS'),
    ociStaleSeconds: seconds('ONCEFLOW_OCI_STALE_SECONDS'),
  };
  return Object.fromEntries(
    Object.entries(settings).filter(([, value]) => value !== undefined),
  ) as StackSettings;
}

export interface DeploymentOptions {
  readonly projectRoot: string;
  readonly names: LocalResourceNames;
  /** The functions to deploy. @default the manifest's */
  readonly functions?: Readonly<Record<string, FunctionSpec>>;
  readonly settings?: StackSettings;
}

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}
interface Template {
  readonly Resources: Readonly<Record<string, TemplateResource>>;
}

/** The stack's id in `bin/onceflow.ts`. */
const STACK_ID = 'OnceflowStack';

/** A function as the template has it, references unresolved. */
interface TemplateFunction {
  readonly logicalId: string;
  readonly environment: Readonly<Record<string, unknown>>;
  readonly statements: ReadonlyArray<{
    readonly policyId: string;
    readonly statement: Readonly<Record<string, unknown>>;
  }>;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The Lambda runtime, e.g. `nodejs24.x`. */
  readonly runtime: string;
}

/** What the local runtime reads from the synthesized stack: cacheable, it holds no local name. */
interface TemplateDeployment {
  readonly functions: Readonly<Record<string, TemplateFunction>>;
  /** Logical id → the manifest resource it is. */
  readonly resources: Readonly<
    Record<
      string,
      {
        kind: 'table' | 'queue' | 'deadLetterQueue' | 'streamDeadLetterQueue' | 'secret';
        name: string;
      }
    >
  >;
}

/**
 * Every function as the stack deploys it, resolved to local names. Building the stack costs ~2 s
 * of CPU (aws-cdk-lib's import and the construct tree) at every start, while DynamoDB Local's JVM
 * starts beside it: what is read from it is cached while the stack's own source files, cdk.json,
 * aws-cdk-lib and the functions' declarations stay the same.
 */
export async function deployedFunctions(
  options: DeploymentOptions,
): Promise<Record<string, DeployedFunction>> {
  const specs: Readonly<Record<string, FunctionSpec>> =
    options.functions ?? (await import('../manifest.js')).functions;
  const deployment = await cachedDeployment(options, specs);
  const attributes = new Map<string, LocalResource>();
  for (const [logicalId, resource] of Object.entries(deployment.resources)) {
    attributes.set(logicalId, localResource(options.names, resource.kind, resource.name));
  }
  const deployed: Record<string, DeployedFunction> = {};
  for (const [name, fn] of Object.entries(deployment.functions)) {
    const spec = specs[name];
    if (!spec) throw new Error(`function ${name} is in the template but not in the manifest`);
    deployed[name] = {
      name,
      logicalId: fn.logicalId,
      spec,
      environment: Object.fromEntries(
        Object.entries(fn.environment).map(([variable, value]) => [
          variable,
          resolveStrict(value, attributes, `${name}: environment variable ${variable}`),
        ]),
      ),
      statements: fn.statements.map(({ policyId, statement }) =>
        readStatement(
          { ...statement, Resource: resolveLoose(statement.Resource, attributes) },
          `${name}: policy ${policyId}`,
        ),
      ),
      timeoutSeconds: fn.timeoutSeconds,
      memoryMb: fn.memoryMb,
      runtime: fn.runtime,
    };
  }
  return deployed;
}

function localResource(
  names: LocalResourceNames,
  kind: TemplateDeployment['resources'][string]['kind'],
  name: string,
): LocalResource {
  switch (kind) {
    case 'table':
      return names.table(name as TableName);
    case 'queue':
      return names.queue(name as QueueName);
    case 'deadLetterQueue':
      return names.deadLetterQueue(name as QueueName);
    case 'streamDeadLetterQueue':
      return names.streamDeadLetterQueue(name);
    case 'secret':
      return names.secret(name as SecretName);
  }
}

interface DeploymentRecord {
  /** Input path → sha1 (as `function-build.ts` records a build's inputs). */
  readonly inputs: Readonly<Record<string, string>>;
  readonly deployment: TemplateDeployment;
}

async function cachedDeployment(
  options: DeploymentOptions,
  specs: Readonly<Record<string, FunctionSpec>>,
): Promise<TemplateDeployment> {
  const { defaultCacheDir, hashInputs, sha1, unchanged } = await import('./function-build.js');
  const dir = join(defaultCacheDir(options.projectRoot), 'deployment');
  const key = sha1(JSON.stringify({ specs, settings: options.settings ?? {} })).slice(0, 16);
  const file = join(dir, `${key}.json`);
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as DeploymentRecord;
    if (unchanged(record, options.projectRoot)) return record.deployment;
  } catch {
    // Not recorded yet (or unreadable): synthesize.
  }
  const [deployment, inputs] = await Promise.all([
    synthesize(options, specs),
    stackInputs(options.projectRoot),
  ]);
  mkdirSync(dir, { recursive: true });
  const temporary = `${file}.${randomUUID()}`;
  writeFileSync(
    temporary,
    JSON.stringify({ inputs: hashInputs(inputs, options.projectRoot), deployment }),
  );
  renameSync(temporary, file);
  return deployment;
}

/**
 * The files the synthesized stack depends on: every source file the stack's module imports (from
 * esbuild's metafile, packages left out), this reader, cdk.json, and the versions of aws-cdk-lib
 * and cdk-nag.
 */
async function stackInputs(projectRoot: string): Promise<string[]> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(projectRoot, 'lib', 'onceflow-stack.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: projectRoot,
  });
  return [
    ...Object.keys(result.metafile.inputs),
    'lib/local/deployment.ts',
    'cdk.json',
    'node_modules/aws-cdk-lib/package.json',
    'node_modules/cdk-nag/package.json',
  ];
}

/** Builds the stack as `cdk synth` does (bundling skipped) and reads every function from it. */
async function synthesize(
  options: DeploymentOptions,
  specs: Readonly<Record<string, FunctionSpec>>,
): Promise<TemplateDeployment> {
  const [{ App }, stackModule, limitsModule] = await Promise.all([
    import('aws-cdk-lib'),
    import('../onceflow-stack.js'),
    import('../operational-limits.js'),
  ]);
  const cdkJson = JSON.parse(readFileSync(join(options.projectRoot, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  const app = new App({
    context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] },
  });
  const stack = new stackModule.OnceflowStack(app, STACK_ID, {
    ...options.settings,
    limits: limitsModule.limitsFromContext(app.node),
    manifest: { ...stackModule.MANIFEST, functions: specs },
  });
  const template = renderTemplate(stack);
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);

  const resources: Record<string, TemplateDeployment['resources'][string]> = {};
  const record = (
    kind: TemplateDeployment['resources'][string]['kind'],
    constructs: Readonly<Record<string, { node: { defaultChild?: unknown } }>>,
  ) => {
    for (const [name, construct] of Object.entries(constructs)) {
      resources[logicalId(construct)] = { kind, name };
    }
  };
  record('table', stack.tables);
  record('queue', stack.queues);
  record('deadLetterQueue', stack.deadLetterQueues);
  record('streamDeadLetterQueue', stack.streamDeadLetterQueues);
  record('secret', stack.secrets);

  const functions: Record<string, TemplateFunction> = {};
  for (const [name, fn] of Object.entries(stack.functions)) {
    const id = logicalId(fn);
    const properties = template.Resources[id]?.Properties;
    if (!properties) throw new Error(`function ${name} (${id}) is not in the template`);
    const variables =
      (properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
      {};
    functions[name] = {
      logicalId: id,
      environment: variables,
      statements: roleStatements(template, properties.Role, name),
      timeoutSeconds: Number(properties.Timeout ?? 3),
      memoryMb: Number(properties.MemorySize ?? 128),
      runtime: String(properties.Runtime),
    };
  }
  return { functions, resources };
}

/**
 * The stack's template as `cdk synth` writes it, without synthesizing the whole app (which stages
 * assets and writes an assembly: seconds, for nothing the local runtime reads). `_toCloudFormation`
 * is what the synthesizer itself calls for the template; `test/infra/local-deployment.test.ts`
 * checks it gives the same functions and policies as `Template.fromStack`.
 */
export function renderTemplate(stack: object): Template {
  return (stack as { _toCloudFormation(): Template })._toCloudFormation();
}

/**
 * Every statement the function's role is granted: its inline policies (`OnceflowFunction` writes
 * its grants there) and any `AWS::IAM::Policy` resource attached to it.
 */
function roleStatements(
  template: Template,
  role: unknown,
  functionName: string,
): TemplateFunction['statements'] {
  const roleId = (role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
  if (!roleId) throw new Error(`${functionName}: the function's Role is not a role of the stack`);
  const roleResource = template.Resources[roleId];
  if (roleResource?.Properties?.ManagedPolicyArns) {
    throw new Error(
      `${functionName}: its role has managed policies, which the local runtime cannot evaluate`,
    );
  }
  const statements: Array<TemplateFunction['statements'][number]> = [];
  const inline =
    (roleResource?.Properties?.Policies as
      | Array<{ PolicyName: string; PolicyDocument?: { Statement?: unknown[] } }>
      | undefined) ?? [];
  for (const policy of inline) {
    for (const statement of policy.PolicyDocument?.Statement ?? []) {
      statements.push({
        policyId: `${roleId}.${policy.PolicyName}`,
        statement: statement as Record<string, unknown>,
      });
    }
  }
  for (const [policyId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties?.Roles as unknown[] | undefined) ?? [];
    if (!roles.some((r) => (r as { Ref?: string }).Ref === roleId)) continue;
    const document = resource.Properties?.PolicyDocument as { Statement?: unknown[] } | undefined;
    for (const statement of document?.Statement ?? []) {
      statements.push({ policyId, statement: statement as Record<string, unknown> });
    }
  }
  return statements;
}

const PSEUDO: Readonly<Record<string, string>> = {
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT_ID,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': STACK_ID,
};

type Lookup = (logicalId: string, attribute: string) => string;

/** Resolves an environment value: a reference to anything but a table, queue or secret is an error. */
function resolveStrict(
  value: unknown,
  attributes: ReadonlyMap<string, LocalResource>,
  where: string,
): string {
  const resolved = resolveIntrinsic(value, (id, attribute) => {
    const known = attributes.get(id);
    if (known && attribute === 'Ref') return known.ref;
    if (known && attribute === 'Arn') return known.arn;
    if (known?.streamArn && attribute === 'StreamArn') return known.streamArn;
    throw new Error(`${where}: cannot resolve ${id}.${attribute} locally`);
  });
  if (typeof resolved !== 'string') throw new Error(`${where}: expected a string`);
  return resolved;
}

/**
 * Resolves a statement's resources. Resources the runtime does not emulate (log groups) resolve to
 * a name no local ARN matches, so they allow nothing locally, as they allow nothing here on AWS.
 */
function resolveLoose(value: unknown, attributes: ReadonlyMap<string, LocalResource>): unknown {
  const lookup: Lookup = (id, attribute) => {
    const known = attributes.get(id);
    if (known && attribute === 'Ref') return known.ref;
    if (known && attribute === 'Arn') return known.arn;
    if (known?.streamArn && attribute === 'StreamArn') return known.streamArn;
    return `unresolved:${id}.${attribute}`;
  };
  return Array.isArray(value)
    ? value.map((item) => resolveIntrinsic(item, lookup))
    : resolveIntrinsic(value, lookup);
}

/** CloudFormation's intrinsic functions, as far as the stack uses them in these places. */
export function resolveIntrinsic(value: unknown, lookup: Lookup): string | string[] {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  }
  const [[fn, arg]] = Object.entries(value) as [[string, unknown]];
  const one = (v: unknown): string => {
    const r = resolveIntrinsic(v, lookup);
    if (typeof r !== 'string') throw new Error(`expected one string in ${JSON.stringify(value)}`);
    return r;
  };
  switch (fn) {
    case 'Ref': {
      const name = String(arg);
      return PSEUDO[name] ?? lookup(name, 'Ref');
    }
    case 'Fn::GetAtt': {
      const [id, attribute] = arg as [string, string];
      return lookup(id, attribute);
    }
    case 'Fn::Join': {
      const [delimiter, parts] = arg as [string, unknown[]];
      return parts.map(one).join(delimiter);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [number | string, unknown];
      const values = resolveIntrinsic(list, lookup);
      const picked = Array.isArray(values) ? values[Number(index)] : undefined;
      if (picked === undefined)
        throw new Error(`Fn::Select out of range in ${JSON.stringify(value)}`);
      return picked;
    }
    case 'Fn::Split': {
      const [delimiter, source] = arg as [string, unknown];
      return one(source).split(delimiter);
    }
    case 'Fn::Sub': {
      const [text, variables] = (Array.isArray(arg) ? arg : [arg, {}]) as [
        string,
        Record<string, unknown>,
      ];
      return text.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
        if (name in variables) return one(variables[name]);
        if (PSEUDO[name]) return PSEUDO[name];
        const [id, attribute] = name.split('.') as [string, string | undefined];
        return lookup(id, attribute ?? 'Ref');
      });
    }
    default:
      throw new Error(`the local runtime cannot resolve ${fn}`);
  }
}
