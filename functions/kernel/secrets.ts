/**
 * Secrets: generation, hashing and constant-time comparison, and where the platform's own secrets
 * come from. On AWS a secret's ARN is in the function's environment (set by the stack from the
 * manifest) and the value is read through Powertools Parameters with a cache. The local runtime
 * does the same: each function gets the ARNs of the secrets it is granted and reads them from the
 * runtime's Secrets Manager stand-in, which answers with the documented defaults below (each
 * overridable by its environment variable). Only where no secret store runs (in-process tests, the
 * ops CLI: `ONCEFLOW_SECRET_DEFAULTS=on`) are the defaults read directly. There are no defaults on
 * AWS.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { ConfigurationError, isLocal } from './config.js';
import { envNameForSecret, type SecretName } from './resource-names.js';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Stored form of a credential: never the credential itself. */
export const hashSecret = sha256Hex;

/**
 * Compares two secrets in time independent of where they differ. Both sides are hashed first, so
 * their lengths are equal and the length of the secret leaks nothing either.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a, 'utf8').digest();
  const right = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(left, right);
}

/** Compares a presented secret with a stored sha256 hex hash, in constant time. */
export function matchesHash(presented: string, storedHashHex: string): boolean {
  const presentedHash = createHash('sha256').update(presented, 'utf8').digest();
  const stored = Buffer.from(storedHashHex, 'hex');
  if (stored.length !== presentedHash.length) return false;
  return timingSafeEqual(presentedHash, stored);
}

/** A fresh random credential with a readable prefix (`of_key_...`). */
export function generateSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

const LOCAL_DEFAULTS: Readonly<Record<SecretName, () => string>> = {
  adminKeyHash: () => sha256Hex(process.env.ONCEFLOW_ADMIN_KEY ?? 'local-admin-key'),
  whatsappAppSecret: () => process.env.WHATSAPP_APP_SECRET ?? 'local-app-secret',
  whatsappVerifyToken: () => process.env.WHATSAPP_VERIFY_TOKEN ?? 'local-verify-token',
  whatsappAccessToken: () => process.env.WHATSAPP_ACCESS_TOKEN ?? 'local-whatsapp-token',
  // The local chat simulator needs no key.
  aiApiKey: () => process.env.ONCEFLOW_AI_API_KEY ?? 'local-ai-key',
  // The local Google Ads simulator accepts any OAuth client and developer token.
  googleAdsOAuthClient: () =>
    process.env.GOOGLE_ADS_OAUTH_CLIENT ??
    '{"clientId":"local-client","clientSecret":"local-secret","refreshToken":"local-refresh"}',
  googleAdsDeveloperToken: () => process.env.GOOGLE_ADS_DEVELOPER_TOKEN ?? 'local-developer-token',
  // The key that seals the endpoints' signing secrets (`functions/kernel/secret-box.ts`), and the tenants' provider keys (`tenants/provider-keys.ts`).
  eventSigningKey: () => process.env.ONCEFLOW_EVENT_SIGNING_KEY ?? 'local-event-signing-key',
};

/** A secret's local value: what the local runtime's Secrets Manager stand-in answers. */
export function localSecretValue(name: SecretName): string {
  return LOCAL_DEFAULTS[name]();
}

/** Reads one of the platform's secrets (cached for five minutes on AWS). */
export async function platformSecret(name: SecretName): Promise<string> {
  const location = process.env[envNameForSecret(name)];
  if (location) {
    const value = await getSecret(location, { maxAge: 300 });
    if (typeof value !== 'string' || value === '') {
      throw new ConfigurationError(`secret ${name} is empty`);
    }
    return value.trim();
  }
  if (isLocal() && process.env.ONCEFLOW_SECRET_DEFAULTS === 'on') return LOCAL_DEFAULTS[name]();
  throw new ConfigurationError(`secret ${name} has no location (${envNameForSecret(name)})`);
}
