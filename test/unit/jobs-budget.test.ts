/**
 * The jobs consumer's time budget holds one ring at its longest: since issue 25 one record runs a
 * message's `lead_match` and then `ai_triage` (up to two model calls at the AI client's timeout)
 * before ONE settle records both. If the invocation could time out before that settle, a slow model
 * would leave `lead_match`'s finished work unrecorded, run after run (the review of issue 25 found
 * the 25 s record budget under the two calls' 40 s).
 */
import { describe, expect, it } from 'vitest';
import { AI_CALL_TIMEOUT_MS, AI_CALLS_PER_TRIAGE } from '../../functions/jobs/ai-client.js';
import { settings } from '../../functions/kernel/config.js';
import { functions, queues } from '../../lib/manifest.js';
import { VISIBILITY_TIMEOUT_FACTOR } from '../../lib/onceflow-stack.js';

describe('processJob: one record holds a ring at its longest', () => {
  const spec = functions.processJob;
  const trigger = spec?.trigger;
  if (!spec || trigger?.kind !== 'queue') throw new Error('processJob is a queue consumer');
  const modelSeconds = (AI_CALLS_PER_TRIAGE * AI_CALL_TIMEOUT_MS) / 1000;

  it('the record budget covers both model calls at their timeout, with room for the writes', () => {
    expect(trigger.recordSeconds).toBeGreaterThanOrEqual(modelSeconds + 5);
  });

  it('the invocation holds a record; the queue hides it six times as long; the lease outlasts it', () => {
    expect(spec.timeoutSeconds ?? 0).toBeGreaterThanOrEqual(trigger.recordSeconds);
    expect(queues[trigger.queue].visibilityTimeoutSeconds).toBeGreaterThanOrEqual(
      VISIBILITY_TIMEOUT_FACTOR * (spec.timeoutSeconds ?? 0),
    );
    // A live worker's jobs are never taken over while it still runs them.
    expect(settings.leaseSeconds).toBeGreaterThan(trigger.recordSeconds);
  });
});
