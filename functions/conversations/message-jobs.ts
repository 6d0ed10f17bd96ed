/**
 * A message's post-processing jobs (at most one per type) and the AI interactions they recorded,
 * as its tenant sees them: `GET /v1/messages/{messageId}/jobs`.
 */
import type { JobStore } from '../jobs/index.js';
import { NotFoundError } from '../kernel/errors.js';
import type { MessageItem } from './items.js';

export interface MessageJobsView {
  readonly jobs: ReadonlyArray<{
    readonly type: string;
    readonly status: string;
    readonly attempts: number;
    readonly source: string;
    readonly updatedAt: string;
    /** What the job answered: `ai_triage` its label, its reply draft and whether it was sent. */
    readonly result?: Readonly<Record<string, string | number | boolean>>;
  }>;
  readonly interactions: ReadonlyArray<{
    readonly source: string;
    readonly model: string;
    readonly promptTokens: number;
    readonly completionTokens: number;
    readonly latencyMs: number;
  }>;
}

export async function messageJobs(
  store: JobStore<MessageItem>,
  tenantId: string,
  messageId: string,
): Promise<MessageJobsView> {
  const { message, jobs, interactions } = await store.readPartition(messageId);
  // A message item without a conversation is only the claim of a delivery that has not filed it
  // (yet, or ever: it crashed and was not redelivered): there is no such message to show.
  if (!message || message.tenantId !== tenantId || message.conversationId === undefined)
    throw new NotFoundError('No such message.');
  return {
    jobs: jobs.map((j) => ({
      type: j.jobType,
      status: j.status,
      attempts: j.attempts,
      source: j.source,
      updatedAt: j.updatedAt,
      ...(j.result ? { result: j.result } : {}),
    })),
    interactions: interactions.map((i) => ({
      source: i.source,
      model: i.model,
      promptTokens: i.promptTokens,
      completionTokens: i.completionTokens,
      latencyMs: i.latencyMs,
    })),
  };
}
