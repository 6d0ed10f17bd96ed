/**
 * The endpoints API's domain: register (the URL checked by the SSRF guard first, the secret shown
 * once), list, delete, rotate the secret (the previous one signs for 24 hours more), list attempts,
 * replay. A tenant only ever names its own endpoints: every key carries the tenant, so another
 * tenant's endpoint id is simply not found (404).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../kernel/errors.js';
import type { SecretBox } from '../kernel/secret-box.js';
import { sha256Hex } from '../kernel/secrets.js';
import {
  checkTarget,
  ForbiddenTargetError,
  type Resolver,
  type TargetPolicy,
} from '../kernel/ssrf.js';
import { ROTATION_OVERLAP_MS, secretBinding } from './deliver.js';
import type { AttemptsPage, EventsStore } from './events-store.js';
import type { DeliveryStatus, EndpointRecord, ReplayRecord } from './items.js';
import { type ReplayDeps, startReplay } from './replay.js';
import { generateSigningSecret } from './signing.js';

export interface EndpointsDeps {
  readonly store: EventsStore;
  readonly clock: Clock;
  readonly resolver: Resolver;
  readonly policy: TargetPolicy;
  readonly box: () => Promise<SecretBox>;
}

export interface EndpointInput {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description?: string;
}

/** An endpoint as the API shows it: never a secret, sealed or not. */
export function endpointView(endpoint: EndpointRecord) {
  return {
    endpointId: endpoint.endpointId,
    url: endpoint.url,
    eventTypes: endpoint.eventTypes,
    description: endpoint.description ?? null,
    state: endpoint.state,
    disabledAt: endpoint.disabledAt ?? null,
    disabledReason: endpoint.disabledReason ?? null,
    createdAt: endpoint.createdAt,
    updatedAt: endpoint.updatedAt,
  };
}

async function assertAllowedUrl(deps: EndpointsDeps, url: string): Promise<void> {
  try {
    await checkTarget(url, deps.resolver, deps.policy);
  } catch (error) {
    if (!(error instanceof ForbiddenTargetError)) throw error;
    throw new InvalidRequestError('The endpoint url is not allowed.', [
      { field: 'url', message: error.message },
    ]);
  }
}

/** `PUT /v1/event-endpoints/{endpointId}`: created with a fresh secret (shown once), or updated. */
export async function putEndpoint(
  deps: EndpointsDeps,
  tenantId: string,
  endpointId: string,
  input: EndpointInput,
): Promise<{ endpointId: string; created: boolean; secret?: string }> {
  await assertAllowedUrl(deps, input.url);
  const now = new Date(deps.clock.now()).toISOString();
  const secret = generateSigningSecret();
  const box = await deps.box();
  const { created } = await deps.store.createEndpoint({
    tenantId,
    endpointId,
    url: input.url,
    eventTypes: [...input.eventTypes],
    ...(input.description !== undefined ? { description: input.description } : {}),
    state: 'active',
    secretSealed: box.seal(secret, secretBinding(tenantId, endpointId)),
    createdAt: now,
    updatedAt: now,
  });
  if (created) return { endpointId, created: true, secret };
  // It existed (or a concurrent PUT created it first): an update, which also enables it again.
  const updated = await deps.store.updateEndpoint(tenantId, endpointId, input, now);
  if (!updated) throw new NotFoundError('The endpoint was deleted while it was being updated.');
  return { endpointId, created: false };
}

export async function listEndpoints(deps: Pick<EndpointsDeps, 'store'>, tenantId: string) {
  return (await deps.store.listEndpoints(tenantId)).map(endpointView);
}

export async function deleteEndpoint(
  deps: Pick<EndpointsDeps, 'store'>,
  tenantId: string,
  endpointId: string,
): Promise<void> {
  if (!(await deps.store.deleteEndpoint(tenantId, endpointId))) throw endpointNotFound();
}

/** `POST .../secret`: a new secret; the previous one keeps signing (beside it) for 24 hours. */
export async function rotateSecret(
  deps: EndpointsDeps,
  tenantId: string,
  endpointId: string,
): Promise<{ secret: string }> {
  const endpoint = await deps.store.getEndpoint(tenantId, endpointId);
  if (!endpoint) throw endpointNotFound();
  const secret = generateSigningSecret();
  const box = await deps.box();
  const now = deps.clock.now();
  const rotated = await deps.store.rotateSecret(
    tenantId,
    endpointId,
    {
      current: box.seal(secret, secretBinding(tenantId, endpointId)),
      previous: endpoint.secretSealed,
      previousUntil: new Date(now + ROTATION_OVERLAP_MS).toISOString(),
    },
    new Date(now).toISOString(),
  );
  if (!rotated) {
    throw new ConflictError('The secret was rotated at the same time; try again.');
  }
  return { secret };
}

export async function listAttempts(
  deps: Pick<EndpointsDeps, 'store'>,
  tenantId: string,
  endpointId: string,
  options: { status?: DeliveryStatus; cursor?: string; limit: number },
): Promise<AttemptsPage> {
  if (!(await deps.store.getEndpoint(tenantId, endpointId))) throw endpointNotFound();
  return deps.store.listAttempts(tenantId, endpointId, options);
}

/**
 * `POST .../replay` → 202: the replay job of every kept event since `since` (`replay.ts`), started
 * here while `hasTime()` and continued by the events sweep; its id and how far it got.
 */
export async function replayEndpoint(
  deps: EndpointsDeps & { readonly dispatch: ReplayDeps['dispatch'] },
  tenantId: string,
  endpointId: string,
  request: { readonly since: string; readonly replayId: string; readonly hasTime: () => boolean },
): Promise<{ replayId: string; state: ReplayRecord['state']; events: number }> {
  const endpoint = await deps.store.getEndpoint(tenantId, endpointId);
  if (!endpoint) throw endpointNotFound();
  const replay = await startReplay(
    deps,
    { tenantId, endpointId, replayId: request.replayId, since: request.since },
    request.hasTime,
  );
  return { replayId: replay.replayId, state: replay.state, events: replay.events };
}

/**
 * A replay's id: from the request's `Idempotency-Key` (a retried request continues the same job,
 * even after the key's stored answer is gone), else fresh.
 */
export function replayIdOf(tenantId: string, endpointId: string, idempotencyKey?: string): string {
  if (idempotencyKey === undefined) return `rpl_${randomUUID().replaceAll('-', '')}`;
  return `rpl_${sha256Hex(`${tenantId}\u0000${endpointId}\u0000${idempotencyKey}`).slice(0, 32)}`;
}

function endpointNotFound() {
  return new NotFoundError('No such event endpoint.');
}
