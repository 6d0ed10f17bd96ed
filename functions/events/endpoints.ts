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
import {
  checkTarget,
  ForbiddenTargetError,
  type Resolver,
  type TargetPolicy,
} from '../kernel/ssrf.js';
import { ROTATION_OVERLAP_MS, secretBinding } from './deliver.js';
import { createReplayDispatcher, type DispatcherDeps } from './dispatch.js';
import type { AttemptsPage, EventsStore } from './events-store.js';
import type { DeliveryStatus, EndpointRecord } from './items.js';
import type { OnceflowEvent } from './model.js';
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

/** Events dispatched per batch of a replay. */
const REPLAY_BATCH = 25;

/**
 * `POST .../replay`: every kept event of the tenant since `since` that the endpoint subscribes to,
 * delivered again with its own id, in a new attempt cycle (a new delivery item per event, so the
 * earlier cycle's record stays as it was). Events of one entity keep their order: the log is read
 * shard by shard in time order and an entity lives in one shard.
 */
export async function replayEndpoint(
  deps: EndpointsDeps & { readonly dispatch: Omit<DispatcherDeps, 'store' | 'clock'> },
  tenantId: string,
  endpointId: string,
  since: string,
): Promise<{ replayId: string; events: number }> {
  const endpoint = await deps.store.getEndpoint(tenantId, endpointId);
  if (!endpoint) throw endpointNotFound();
  const replayId = randomUUID();
  const sink = createReplayDispatcher(
    { ...deps.dispatch, store: deps.store, clock: deps.clock },
    endpointId,
    replayId,
  );
  let batch: OnceflowEvent[] = [];
  let events = 0;
  const flush = async () => {
    const { failed } = await sink.accept(batch);
    if (failed.length > 0) throw new Error(`${failed.length} replayed events not dispatched`);
    events += batch.length;
    batch = [];
  };
  for await (const event of deps.store.eventsSince(tenantId, since)) {
    batch.push(event);
    if (batch.length >= REPLAY_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return { replayId, events };
}

function endpointNotFound() {
  return new NotFoundError('No such event endpoint.');
}
