/**
 * The process environment the local runtime gives handlers. It must be applied before any handler
 * module is imported: SDK clients and Powertools objects read it when they are created.
 *
 * Two kinds of values: those that describe this runtime (endpoints, resource names, flags) always
 * win; local defaults (secrets, Powertools switches) only fill what the real environment leaves unset.
 */
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
