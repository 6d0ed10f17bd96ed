/**
 * The OCI context's composition root: reads configuration once and builds the store, the tenant
 * lookup and the Google Ads client the handlers pass to the domain modules.
 */
import { ddb } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { ConfigurationError, isLocal, settings, tableName } from '../kernel/config.js';
import { memoized } from '../kernel/memoized.js';
import { configuredVersions } from '../kernel/provider-versions.js';
import { platformSecret } from '../kernel/secrets.js';
import { tenantStore } from '../tenants/index.js';
import type { OciContext } from './calls.js';
import { HttpGoogleAdsUploader, type OAuthClient } from './google-ads-client.js';
import type { GoogleAdsSettings } from './model.js';
import { DynamoOciStore, type OciStore } from './oci-store.js';
import { ociSettings } from './settings.js';

export const ociStore = /* @__PURE__ */ memoized(
  (): OciStore => new DynamoOciStore(ddb, tableName('conversions')),
);

export async function googleAdsSettings(tenantId: string): Promise<GoogleAdsSettings | undefined> {
  const tenant = await tenantStore().get(tenantId);
  const g = tenant?.googleAds;
  return g
    ? {
        customerId: g.customerId,
        conversionAction: g.conversionAction,
        ...(g.conversionName ? { conversionName: g.conversionName } : {}),
        uploadMode: g.uploadMode,
      }
    : undefined;
}

export function ociContext(): OciContext {
  return { store: ociStore(), clock: systemClock, googleAds: googleAdsSettings };
}

export function exportDeps() {
  return { store: ociStore(), clock: systemClock, staleSeconds: ociSettings.staleSeconds };
}

function googleBaseUrls(): { api: string; token: string } {
  const api = process.env.GOOGLE_ADS_API_BASE_URL;
  const token = process.env.GOOGLE_ADS_OAUTH_TOKEN_URL;
  if (api && token) return { api: api.replace(/\/$/, ''), token };
  const sim = process.env.SIM_BASE_URL?.replace(/\/$/, '');
  if (isLocal() && sim) return { api: api ?? sim, token: token ?? `${sim}/token` };
  throw new ConfigurationError(
    'GOOGLE_ADS_API_BASE_URL and GOOGLE_ADS_OAUTH_TOKEN_URL must be set',
  );
}

async function oauthClient(): Promise<OAuthClient> {
  const raw = await platformSecret('googleAdsOAuthClient');
  const parsed = JSON.parse(raw) as Partial<OAuthClient>;
  if (!parsed.clientId || !parsed.clientSecret || !parsed.refreshToken) {
    throw new ConfigurationError(
      'googleAdsOAuthClient must hold clientId, clientSecret, refreshToken',
    );
  }
  return parsed as OAuthClient;
}

/**
 * The Google Ads client, rebuilt only when the endpoint or version changes (tests point it at their
 * own simulator). The version is a setting (`GOOGLE_ADS_API_VERSION`, from the manifest), checked
 * against the calendar by the uploader before every run.
 */
const googleAds = /* @__PURE__ */ memoized(
  () => {
    const urls = googleBaseUrls();
    const apiVersion = configuredVersions().googleAds;
    const uploader = new HttpGoogleAdsUploader({
      apiBaseUrl: urls.api,
      apiVersion,
      tokenUrl: urls.token,
      oauth: oauthClient,
      developerToken: () => platformSecret('googleAdsDeveloperToken'),
      ...(process.env.GOOGLE_ADS_LOGIN_CUSTOMER_ID
        ? { loginCustomerId: process.env.GOOGLE_ADS_LOGIN_CUSTOMER_ID }
        : {}),
    });
    return { uploader, apiVersion };
  },
  () => `${googleBaseUrls().api}/${configuredVersions().googleAds}`,
);

export function uploadDeps() {
  const { uploader, apiVersion } = googleAds();
  return {
    store: ociStore(),
    clock: systemClock,
    google: uploader,
    leaseSeconds: settings.leaseSeconds,
    apiVersion,
  };
}
