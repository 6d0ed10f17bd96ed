/**
 * The environments of the local runtime.
 *
 * - Each function's own (`functionEnvironment`): exactly the variables of its template resource
 *   (`deployment.ts`), with its settings' local values, plus a local-only overlay that points its
 *   SDK clients at the runtime's AWS gateway with credentials naming the function, and sets what
 *   Lambda itself sets (region, function name, memory). Nothing else from the shell reaches it.
 * - The runtime's own process (`localEnvironment`), shared by in-process tests, benches and the
 *   simulators: every table and queue, the emulators' endpoints, the local secret defaults. It must be
 *   applied before anything creates an SDK client or a Powertools object: they read it then.
 *
 * In `localEnvironment`, values that describe this runtime (endpoints, resource names, flags) always
 * win; local defaults (secrets, Powertools switches) only fill what the real environment leaves unset.
 */
import { accessKeyIdFor } from './aws-gateway.js';
import { physicalFunctionName } from './lambda.js';
import { DEFAULT_PREFIX, LOCAL_REGION, resourceEnvironment } from './resources.js';

export interface LocalEnvironmentOptions {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  /** Port of the API adapter; sets `ONCEFLOW_API_BASE_URL`. */
  readonly apiPort?: number;
  /** Port of the provider simulators; sets `SIM_BASE_URL`. */
  readonly simPort?: number;
  readonly host?: string;
  /** @default 'onceflow' */
  readonly prefix?: string;
}

/** Local-only defaults: each is overridable by the real environment. */
export const LOCAL_DEFAULTS: Readonly<Record<string, string>> = {
  ONCEFLOW_ADMIN_KEY: 'local-admin-key',
  WHATSAPP_APP_SECRET: 'local-app-secret',
  WHATSAPP_VERIFY_TOKEN: 'local-verify-token',
  // Google Ads API mode: the simulator accepts any OAuth client and developer token.
  GOOGLE_ADS_OAUTH_CLIENT:
    '{"clientId":"local-client","clientSecret":"local-secret","refreshToken":"local-refresh"}',
  GOOGLE_ADS_DEVELOPER_TOKEN: 'local-developer-token',
  // No X-Ray daemon locally.
  POWERTOOLS_TRACE_ENABLED: 'false',
  // Node 20 is this project's runtime; the SDK's "upgrade to 22" notice is noise here.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** The variables that point the SDK at the emulators, whatever the shell says. */
export function emulatorEnvironment(
  dynamodbEndpoint: string,
  sqsEndpoint: string,
): Record<string, string> {
  return {
    ONCEFLOW_LOCAL: '1',
    ONCEFLOW_FAILPOINTS: 'on',
    // No secret store runs beside the emulators alone: the documented defaults stand in.
    ONCEFLOW_SECRET_DEFAULTS: 'on',
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    // Dummy credentials: real ones must never be sent anywhere from the local runtime.
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
    AWS_ENDPOINT_URL_SQS: sqsEndpoint,
  };
}

/** Builds the full environment map; `base` supplies the real environment for the defaults. */
export function localEnvironment(
  options: LocalEnvironmentOptions,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const host = options.host ?? '127.0.0.1';
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(LOCAL_DEFAULTS)) env[name] = base[name] || value;
  Object.assign(
    env,
    emulatorEnvironment(options.dynamodbEndpoint, options.sqsEndpoint),
    resourceEnvironment(options.sqsEndpoint, options.prefix ?? DEFAULT_PREFIX),
  );
  if (options.apiPort !== undefined)
    env.ONCEFLOW_API_BASE_URL = `http://${host}:${options.apiPort}`;
  if (options.simPort !== undefined) env.SIM_BASE_URL = `http://${host}:${options.simPort}`;
  return env;
}

/** Writes `env` into `process.env` and drops a session token that would pair with real keys. */
export function applyEnvironment(env: Readonly<Record<string, string>>): void {
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  Object.assign(process.env, env);
}

/**
 * Shell variables a function may still see: they change what it prints, never what it does (a
 * bench quiets the logs; a developer turns on Powertools' pretty printing).
 */
const OBSERVABILITY_PASS_THROUGH = [
  'POWERTOOLS_LOG_LEVEL',
  'POWERTOOLS_METRICS_DISABLED',
  'POWERTOOLS_DEV',
] as const;

export interface FunctionEnvironmentOptions {
  /** The manifest's name. */
  readonly name: string;
  readonly memoryMb: number;
  /** The variables of the function's template resource, resolved to local names. */
  readonly template: Readonly<Record<string, string>>;
  /** Its settings' local values (`localSettings` of the manifest). */
  readonly localSettings: Readonly<Record<string, string>>;
  /** The AWS gateway every SDK call goes through (`aws-gateway.ts`). */
  readonly gatewayEndpoint: string;
  /** The shell, for the observability switches only. @default process.env */
  readonly shell?: NodeJS.ProcessEnv;
}

/** The whole `process.env` of one function in the local runtime. */
export function functionEnvironment(options: FunctionEnvironmentOptions): Record<string, string> {
  const shell = options.shell ?? process.env;
  const physicalName = physicalFunctionName(options.name);
  const env: Record<string, string> = { ...options.template, ...options.localSettings };
  for (const name of OBSERVABILITY_PASS_THROUGH) {
    const value = shell[name];
    if (value) env[name] = value;
  }
  return {
    ...env,
    // What Lambda sets in every execution environment.
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_LAMBDA_FUNCTION_NAME: physicalName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${physicalName}`,
    // The function's own (dummy) credentials: the gateway knows it by them, as IAM knows a role.
    AWS_ACCESS_KEY_ID: accessKeyIdFor(options.name),
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: options.gatewayEndpoint,
    AWS_ENDPOINT_URL_SQS: options.gatewayEndpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: options.gatewayEndpoint,
    // Local only: invocations overlap in one environment; failpoints can be armed.
    ONCEFLOW_LOCAL: '1',
    ONCEFLOW_FAILPOINTS: 'on',
    // No X-Ray daemon locally.
    POWERTOOLS_TRACE_ENABLED: 'false',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}
