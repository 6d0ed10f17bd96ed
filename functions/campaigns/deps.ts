/**
 * The campaigns context's composition root: reads the environment the manifest gives each function
 * and builds the stores and clients the handlers (`handlers/`) share, once per execution
 * environment. Stores never read the environment themselves.
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { ddb, sqs } from '../kernel/clients.js';
import { systemClock } from '../kernel/clock.js';
import { queueUrl, settings, tableName } from '../kernel/config.js';
import { tenantStore } from '../tenants/index.js';
import type { CampaignStore } from './campaign-store.js';
import type { FanoutDeps } from './fanout.js';
import { DEFAULT_UNKNOWN_OUTCOME, type UnknownOutcomePolicy } from './model.js';

export function campaignStore(): CampaignStore {
  return { ddb, clock: systemClock, table: tableName('campaigns') };
}

export function fanoutDeps(): FanoutDeps {
  return {
    ...campaignStore(),
    sqs,
    sendsQueueUrl: queueUrl('sends'),
    fanoutQueueUrl: queueUrl('fanout'),
  };
}

/** A value cached for `ttlMs` per key (per execution environment). */
export function cached<T>(ttlMs: number, load: (key: string) => Promise<T>) {
  const entries = new Map<string, { value: T; until: number }>();
  return async (key: string): Promise<T> => {
    const hit = entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = await load(key);
    entries.set(key, { value, until: Date.now() + ttlMs });
    return value;
  };
}

/** The tenant's configured WhatsApp rate (messages per second), cached for ten seconds. */
export const messagesPerSecond = cached(10_000, async (tenantId) => {
  const tenant = await tenantStore().get(tenantId);
  return tenant?.messagesPerSecond ?? 80;
});

/** The tenant's unknown-outcome policy (`hold` unless it opted in to `retry_once`), cached. */
export const unknownOutcome = cached(10_000, async (tenantId): Promise<UnknownOutcomePolicy> => {
  const tenant = await tenantStore().get(tenantId);
  return tenant?.unknownOutcome ?? DEFAULT_UNKNOWN_OUTCOME;
});

export async function sendsQueueIsEmpty(): Promise<boolean> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl('sends'),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const visible = Number(out.Attributes?.ApproximateNumberOfMessages ?? '1');
  const inFlight = Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? '1');
  return visible === 0 && inFlight === 0;
}

export { settings };
