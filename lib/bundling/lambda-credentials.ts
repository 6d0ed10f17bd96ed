/**
 * What a handler bundle carries in place of `@aws-sdk/credential-provider-node` (the SDK clients'
 * default credential chain; `handlerBuildOptions` aliases it here). Tests and the CLI run
 * unbundled and keep the full chain.
 *
 * Why: the full chain carries every way a laptop or an EC2 host finds credentials — SSO, the ini
 * profiles, credential processes, web identity, instance metadata, login — with the STS, SSO and
 * OIDC clients they call (`@aws-sdk/nested-clients`): ~95 KB of each bundle, none of which a
 * Lambda function can use. A function finds its execution role's credentials in exactly two places
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime:
 * `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; with SnapStart, the container
 * endpoint `AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`,
 * https://docs.aws.amazon.com/lambda/latest/dg/snapstart-activate.html#snapstart-credentials), and
 * the local runtime gives each function its credentials in the first form
 * (`lib/local/environment.ts`). Both are the SDK's own providers, in the full chain's order.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { chain, memoize } from '@smithy/core/config';

/** What the SDK's providers resolve to. */
type AwsCredentialIdentity = Awaited<ReturnType<ReturnType<typeof fromEnv>>>;

/** The full chain refreshes credentials that expire within 5 minutes (`credentialsTreatedAsExpired`). */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60 * 1000;

const expiresSoon = (credentials: AwsCredentialIdentity) =>
  credentials.expiration !== undefined &&
  credentials.expiration.getTime() - Date.now() < REFRESH_BEFORE_EXPIRY_MS;

const willExpire = (credentials: AwsCredentialIdentity) => credentials.expiration !== undefined;

/**
 * The clients' `credentialDefaultProvider`: environment first, then the container endpoint;
 * memoized like the full chain (the SDK does not memoize a default provider itself).
 */
export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}) =>
  memoize(
    // `fromHttp` throws when it is built without an endpoint: built only when the environment has none.
    chain(fromEnv(init), () => fromHttp(init)()),
    expiresSoon,
    willExpire,
  );
