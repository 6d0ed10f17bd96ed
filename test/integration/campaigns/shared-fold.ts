/**
 * The counter fold over the emulators' shared `campaigns` table, for the tests that read totals
 * after moving recipients there: totals are folded from the change feed (`counter-fold.ts`), so such
 * a test first waits until the fold has handed over every stream record written so far — the local
 * stream poller (Lambda's event source mapping, locally) with the real stream edge and fold, and its
 * `drained()`, under a deadline. Never a sleep.
 *
 * One poller per test file (vitest gives each file its own modules), reading from the oldest record
 * with a checkpoint of its own: files folding at once are several readers of one stream, which the
 * fold's `foldSeq` guard makes exactly once (`counter-fold.test.ts` races them).
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { foldCounters } from '../../../functions/campaigns/counter-fold.js';
import type { Totals } from '../../../functions/campaigns/model.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { streamConsumer } from '../../../functions/kernel/stream-consumer.js';
import type { LambdaHandler } from '../../../lib/local/lambda.js';
import type { StreamPoller } from '../../../lib/local/stream-poller.js';
import { poll } from '../events/feed-support.js';
import { testCampaignStore } from './campaign-support.js';

let poller: Promise<StreamPoller> | undefined;

/** How long the fold may take to catch up with the shared table before the test fails. */
const FOLD_DEADLINE_MS = 25_000;

function sharedFoldHandler(): LambdaHandler {
  const consumer = streamConsumer({
    name: 'foldCampaignCounters',
    handle: (changes) =>
      foldCounters(changes, { folded: testCampaignStore().folded, clock: systemClock }),
  });
  return async (event, context) =>
    (await consumer(event as DynamoDBStreamEvent, context)) as DynamoDBBatchResponse;
}

/** Resolves once the fold has handed over every record written to the shared table so far. */
export async function foldCaughtUp(): Promise<void> {
  poller ??= poll(tableName('campaigns'), sharedFoldHandler(), { batchSize: 100, untracked: true });
  const drained = (await poller).drained();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the counter fold did not catch up within ${FOLD_DEADLINE_MS} ms`)),
      FOLD_DEADLINE_MS,
    );
  });
  try {
    await Promise.race([drained, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A campaign's totals once the feed is folded (what `GET /v1/campaigns/{id}` then answers). */
export async function foldedTotals(
  store: { readonly counters: { totals(t: string, c: string): Promise<Totals> } },
  tenantId: string,
  campaignId: string,
): Promise<Totals> {
  await foldCaughtUp();
  return store.counters.totals(tenantId, campaignId);
}

/** Stops this file's fold (its `afterAll`). */
export async function stopSharedFold(): Promise<void> {
  const running = poller;
  poller = undefined;
  await (await running)?.stop();
}
