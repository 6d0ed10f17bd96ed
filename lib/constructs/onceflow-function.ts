import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Annotations,
  AssetHashType,
  type CfnElement,
  DockerImage,
  Duration,
  Stack,
} from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  type AddToPrincipalPolicyResult,
  type Grant,
  type IGrantable,
  PolicyDocument,
  PolicyStatement,
  Role,
  type RoleProps,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { esbuildTargetOf, HANDLER_BUNDLE_FILE } from '../bundling/handler-bundle.js';
import {
  envNameForQueue,
  envNameForSecret,
  envNameForTable,
  type QueueName,
  type SecretName,
  type TableAccess,
  type TableName,
} from '../manifest.js';

/** The project root: it holds `package-lock.json` and the `functions/` tree. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The newest Node.js runtime this aws-cdk-lib knows (cdk-nag AwsSolutions-L1 checks the same). */
export const ONCEFLOW_RUNTIME = Runtime.NODEJS_24_X;

/** esbuild target matching {@link ONCEFLOW_RUNTIME}: `nodejs24.x` → `node24`. */
export const ESBUILD_TARGET = esbuildTargetOf(ONCEFLOW_RUNTIME.name);

/**
 * `NODE_OPTIONS` of every function: none by default. Under `--enable-source-maps` Node reads and
 * parses the bundle's map when it loads the bundle (not only on an error): measured on the bench
 * machine, the median import of the receive-whatsapp bundle went from 145 ms to 187 ms. The map
 * still ships beside the bundle, so a stack trace can be mapped offline, and the option can be set
 * on a function while investigating (docs/runbook.md, "Reading a stack trace"). The cold-start
 * bench imports with the same options.
 */
export const HANDLER_NODE_OPTIONS: string | undefined = undefined;

/** The bundling step (`lib/bundling/bundle-handler.ts`), run with tsx from the project root. */
const BUNDLE_SCRIPT = fileURLToPath(new URL('../bundling/bundle-handler.ts', import.meta.url));

/** Placeholder entry used only when bundling is skipped and the real entry does not exist yet. */
const PLACEHOLDER_ENTRY = fileURLToPath(import.meta.url);

export interface OnceflowFunctionProps {
  /** Handler module exporting `handler`, relative to `projectRoot` (or absolute). */
  readonly entry: string;
  /** Shown in the Lambda console; the manifest's description. */
  readonly description: string;
  /**
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Memory in MB, between 128 and 10240.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * How long the function's log group keeps events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Extra environment variables, merged over the defaults (Powertools).
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Directory holding `package-lock.json`; `entry` is resolved against it.
   * @default the repository root
   */
  readonly projectRoot?: string;
}

export interface BindTableOptions {
  /** Logical table name from the manifest; selects the environment variable. */
  readonly name: TableName;
  readonly table: ITable;
  readonly access: TableAccess;
}

export interface BindQueueOptions {
  /** Logical queue name from the manifest; selects the environment variable. */
  readonly name: QueueName;
  readonly queue: IQueue;
}

export interface BindSecretOptions {
  /** Logical secret name from the manifest; selects the environment variable. */
  readonly name: SecretName;
  readonly secret: ISecret;
}

const DEFAULT_TIMEOUT = Duration.seconds(10);
const DEFAULT_MEMORY_MB = 512;

/**
 * A Lambda function with onceflow's defaults fixed in one place: the newest Node.js runtime on
 * arm64, an ESM bundle with source maps, active tracing, an explicit log group with retention and
 * the Powertools environment. Resources are attached only through the `bind*` methods, which set
 * the environment variable and grant least privilege in the same call.
 */
export class OnceflowFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: OnceflowFunctionProps) {
    const checked = checkProps(props);
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    const entry = resolveEntry(scope, id, projectRoot, props.entry);
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole: it may write to this log group only.
    const role = new InlinePolicyRole(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.entry}`,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );

    super(scope, id, {
      // The bundle is built by `handlerBundle` (one esbuild configuration shared with the
      // cold-start bench), so NodejsFunction's own bundling options do not apply.
      code: handlerBundle(projectRoot, entry),
      handler: `${HANDLER_BUNDLE_FILE.replace(/\.mjs$/, '')}.handler`,
      description: props.description,
      runtime: ONCEFLOW_RUNTIME,
      architecture: Architecture.ARM_64,
      timeout: checked.timeout,
      memorySize: checked.memorySize,
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      environment: {
        ...(HANDLER_NODE_OPTIONS ? { NODE_OPTIONS: HANDLER_NODE_OPTIONS } : {}),
        POWERTOOLS_SERVICE_NAME: 'onceflow',
        POWERTOOLS_METRICS_NAMESPACE: 'Onceflow',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
    });
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, nor does DynamoDB ListStreams, which only a stream-triggered function gets (aws-cdk-lib StreamGrants.list grants it on *); its stream reads are on the stream ARNs.',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
  }

  /** Passes the table's name in `envNameForTable(name)` and grants exactly `access` on it. */
  bindTable({ name, table, access }: BindTableOptions): void {
    this.addEnvironment(envNameForTable(name), table.tableName);
    const grant = grantTable(table, this, access);
    // A table with GSIs is granted `<arn>/index/*`: only its own indexes, which IAM cannot list.
    // The grant renders that resource lazily, so resolve it (the table's GSIs exist by now).
    const indexWildcard = grant.principalStatements
      .flatMap((statement) => statement.resources)
      .some((resource) =>
        String(JSON.stringify(Stack.of(this).resolve(resource))).includes('/index/*'),
      );
    if (indexWildcard && this.role) {
      const tableId = Stack.of(table).getLogicalId(table.node.defaultChild as CfnElement);
      NagSuppressions.addResourceSuppressions(
        this.role,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: `Queries on the ${name} table's own GSIs; the wildcard matches only that table's indexes.`,
            appliesTo: [`Resource::<${tableId}.Arn>/index/*`],
          },
        ],
        true,
      );
    }
  }

  /** Passes the queue's URL in `envNameForQueue(name)` and grants sending to it, nothing more. */
  bindQueue({ name, queue }: BindQueueOptions): void {
    this.addEnvironment(envNameForQueue(name), queue.queueUrl);
    queue.grantSendMessages(this);
  }

  /** Passes the secret's ARN in `envNameForSecret(name)` and grants reading its value. */
  bindSecret({ name, secret }: BindSecretOptions): void {
    this.addEnvironment(envNameForSecret(name), secret.secretArn);
    secret.grantRead(this);
  }
}

function grantTable(table: ITable, grantee: IGrantable, access: TableAccess): Grant {
  switch (access) {
    case 'read':
      return table.grantReadData(grantee);
    case 'readWrite':
      return table.grantReadWriteData(grantee);
    default:
      throw new Error(`unknown table access '${String(access satisfies never)}'`);
  }
}

function checkProps(props: OnceflowFunctionProps): {
  timeout: Duration;
  memorySize: number;
} {
  if (props.entry.trim() === '') throw new Error('OnceflowFunction: entry must not be empty');
  if (props.description.length > 256) {
    throw new Error(`OnceflowFunction: description of ${props.entry} exceeds 256 characters`);
  }
  const timeout = props.timeout ?? DEFAULT_TIMEOUT;
  const seconds = timeout.toSeconds();
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 900) {
    throw new Error(`OnceflowFunction: timeout of ${props.entry} must be 1-900 whole seconds`);
  }
  const memorySize = props.memorySize ?? DEFAULT_MEMORY_MB;
  if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10240) {
    throw new Error(`OnceflowFunction: memorySize of ${props.entry} must be 128-10240 MB`);
  }
  return { timeout, memorySize };
}

/**
 * The handler's bundle as an asset: `lib/bundling/bundle-handler.ts` builds it locally with the
 * options in `lib/bundling/handler-bundle.ts` (ESM, minified, tree-shaken, source map, nothing
 * external). The asset is hashed by its output, as NodejsFunction does. There is no Docker
 * fallback: a failed build fails the synth with esbuild's message.
 */
function handlerBundle(projectRoot: string, entry: string): Code {
  return Code.fromAsset(projectRoot, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the type; never pulled, since local bundling either succeeds or throws.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:24-alpine'),
      // CDK reuses a staged asset whose source path and bundling options it has seen (functions
      // cannot be compared): the entry and target must be part of the options, or every function
      // of the stack would get the first one's bundle.
      environment: { ONCEFLOW_BUNDLE_ENTRY: entry, ONCEFLOW_BUNDLE_TARGET: ESBUILD_TARGET },
      local: {
        tryBundle(outputDir: string): boolean {
          const built = spawnSync(
            process.execPath,
            ['--import', 'tsx', BUNDLE_SCRIPT, entry, outputDir, ESBUILD_TARGET],
            { cwd: PROJECT_ROOT, encoding: 'utf8' },
          );
          if (built.status !== 0) {
            throw new Error(
              `bundling ${entry} failed: ${built.stderr || built.error?.message || 'no output'}`,
            );
          }
          return true;
        },
      },
    },
  });
}

/**
 * A missing entry fails the synth unless bundling is skipped for this stack, as in
 * infrastructure tests while another engineer is still writing the handler.
 */
function resolveEntry(scope: Construct, id: string, projectRoot: string, entry: string): string {
  const path = isAbsolute(entry) ? entry : resolve(projectRoot, entry);
  if (existsSync(path)) return path;
  if (Stack.of(scope).bundlingRequired) {
    throw new Error(`OnceflowFunction ${id}: entry ${entry} does not exist (${path})`);
  }
  Annotations.of(scope).addWarningV2(
    'onceflow:missing-entry',
    `${id}: entry ${entry} does not exist; allowed only because bundling is skipped`,
  );
  return PLACEHOLDER_ENTRY;
}

/**
 * A role whose grants land in its own inline policy (`AWS::IAM::Role` `Policies`) instead of a
 * separate `AWS::IAM::Policy` resource: the same statements, one CloudFormation resource per
 * function fewer. With one role per function that separate policy was 58 of the 541 resources that
 * broke CloudFormation's 500-per-stack quota
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
 * The document is resolved at synth, so grants added after construction are in it; an inline
 * policy is part of the role, so whatever depends on the role (the function) waits for its grants.
 */
class InlinePolicyRole extends Role {
  private readonly inlineGrants: PolicyDocument;

  constructor(scope: Construct, id: string, props: RoleProps) {
    const grants = new PolicyDocument();
    super(scope, id, { ...props, inlinePolicies: { ...props.inlinePolicies, grants } });
    this.inlineGrants = grants;
  }

  override addToPrincipalPolicy(statement: PolicyStatement): AddToPrincipalPolicyResult {
    this.inlineGrants.addStatements(statement);
    return { statementAdded: true, policyDependable: this };
  }
}
