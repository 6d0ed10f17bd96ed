/**
 * The counter fold over the emulators' shared `campaigns` table, for the tests that read totals
 * after moving recipients there: totals are folded from the change feed (`counter-fold.ts`), so such
 * a test first drives the fold over every stream record written so far — the local stream poller
 * (Lambda's event source mapping, locally) with the real stream edge and fold, from this file's
 * checkpoint until it is drained, under a deadline, then stopped. Never a sleep, and nothing folds
 * in the background between two calls: the fold runs when the test asks for it.
 *
 * Each test file keeps its own checkpoint (vitest gives each file its own modules) and starts from
 * the oldest record: files folding at once are several readers of one stream, which the fold's
 * `foldSeq` guard makes exactly once (`counter-fold.test.ts` races them).
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { foldCounters } from '../../../functions/campaigns/counter-fold.js';
import type { Totals } from '../../../functions/campaigns/model.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { tableName } from '../../../functions/kernel/config.js';
import { streamConsumer } from '../../../functions/kernel/stream-consumer.js';
import type { LambdaHandler } from '../../../lib/local/lambda.js';
import { checkpointFile, poll } from '../events/feed-support.js';
import { testCampaignStore } from './campaign-support.js';

/** How long the fold may take to catch up with the shared table before the test fails. */
const FOLD_DEADLINE_MS = 25_000;

const checkpoint = checkpointFile();
/** One drive at a time: they share the checkpoint. */
let last: Promise<void> = Promise.resolve();

function sharedFoldHandler(): LambdaHandler {
  const consumer = streamConsumer({
    name: 'foldCampaignCounters',
    handle: (changes) =>
      foldCounters(changes, { folded: testCampaignStore().folded, clock: systemClock }),
  });
  return async (event, context) =>
    (await consumer(event as DynamoDBStreamEvent, context)) as DynamoDBBatchResponse;
}

async function drive(): Promise<void> {
  const poller = await poll(tableName('campaigns'), sharedFoldHandler(), {
    batchSize: 100,
    checkpoint,
    untracked: true,
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the counter fold did not catch up within ${FOLD_DEADLINE_MS} ms`)),
      FOLD_DEADLINE_MS,
    );
  });
  try {
    await Promise.race([poller.drained(), deadline]);
  } finally {
    clearTimeout(timer);
    await poller.stop();
  }
}

/** Resolves once the fold has folded every record written to the shared table so far. */
export function foldCaughtUp(): Promise<void> {
  const next = last.then(drive, drive);
  last = next.catch(() => undefined);
  return next;
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
