/**
 * The inbound claim enters the jobs' sweep index (issue 25: the filing transaction no longer writes
 * the index entry, which a transaction charges twice). What that must not break, against the real
 * DynamoDB Local and SQS emulator, on a private `inbound` table and jobs queue:
 * - a sweep that read a claim before its filing never takes the filed message, whose jobs are
 *   pending, out of the index (the filing keeps the claim's `sweepAt`, so the sweep's write is
 *   guarded on the host still having no jobs): the read is made inside the delivery, just before
 *   its filing transaction, by a middleware on the functions' own client;
 * - a claim whose delivery died and never came back leaves the index on the next sweep (and stays
 *   a claim, expiring by TTL), and a redelivery after that still files it and runs its jobs once.
 */
import { randomUUID } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { messageJobStore } from '../../../functions/conversations/deps.js';
import { handler as recoverSchedule } from '../../../functions/conversations/handlers/recover-jobs-schedule.js';
import { keys, type MessageItem } from '../../../functions/conversations/items.js';
import { messageIdFor } from '../../../functions/conversations/store-message.js';
import { PENDING_GRACE_SECONDS } from '../../../functions/jobs/index.js';
import { ddb } from '../../../functions/kernel/clients.js';
import { advanceSystemClock, systemClock } from '../../../functions/kernel/clock.js';
import { settings, tableName } from '../../../functions/kernel/config.js';
import {
  armFailpoints,
  clearFailpoints,
  FailpointCrashError,
} from '../../../functions/kernel/failpoints.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import {
  cloudCall,
  cloudText,
  createTenant,
  invoke,
  lambdaContext,
  privateInboundJobs,
  settleJobs,
  type TestTenant,
} from '../conversations/inbound-support.js';

let env: Awaited<ReturnType<typeof privateInboundJobs>>;
let tenant: TestTenant;

beforeAll(async () => {
  env = await privateInboundJobs('inbound-claim-sweep');
  tenant = await createTenant();
});

afterAll(() => env.stop());

afterEach(() => clearFailpoints());

/** The message whose claim the next filing transaction reads first, as a sweep would, and what it read. */
let readBeforeFiling: string | undefined;
let seenByTheSweep: MessageItem | undefined;
ddb.middlewareStack.add(
  (next, context) => async (args) => {
    const messageId = readBeforeFiling;
    if (messageId && /TransactWrite/.test(context.commandName ?? '')) {
      readBeforeFiling = undefined;
      seenByTheSweep = (await partition(messageId)).message;
    }
    return next(args);
  },
  { step: 'initialize', name: 'claimSweepReadBeforeFiling' },
);

const recover = () =>
  recoverSchedule({}, lambdaContext) as Promise<{ requeued: number; staleReset: number }>;
const pastGrace = () =>
  advanceSystemClock((Math.max(PENDING_GRACE_SECONDS, settings.leaseSeconds) + 1) * 1000);
const partition = (messageId: string) => messageJobStore().readPartition(messageId);
const deliver = (wamid: string) =>
  invoke(whatsapp, cloudCall(cloudText(tenant, { wamid, from: '972509990002' })));

async function crashAfterClaim(): Promise<{ wamid: string; messageId: string }> {
  const wamid = `wamid.${randomUUID()}`;
  armFailpoints({ 'inbound.after-message-claimed': { probability: 1, times: 1 } });
  await expect(deliver(wamid)).rejects.toBeInstanceOf(FailpointCrashError);
  clearFailpoints();
  return { wamid, messageId: messageIdFor(tenant.tenantId, `wamid:${wamid}`) };
}

describe('the inbound claim in the jobs sweep index', () => {
  it('a sweep that read the claim before the filing leaves the filed message, jobs pending, in the index', async () => {
    const wamid = `wamid.${randomUUID()}`;
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    // The sweep reads the claim while the delivery is between its claim and its filing (a stalled
    // delivery: the sweep sees a claim once its grace is over): read just before the filing goes.
    readBeforeFiling = messageId;
    expect((await deliver(wamid)).json).toMatchObject({ received: 1, stored: 1 });
    const claim = seenByTheSweep;
    expect(claim?.conversationId).toBeUndefined();
    expect(claim?.sweepAt).toBeDefined();
    if (!claim) throw new Error('no claim read');
    // The sweep's write, as it would be made from what it read: no jobs, so no look left.
    const applied = await messageJobStore().reschedule({
      message: claim,
      staleReset: [],
      now: systemClock.now(),
    });
    expect(applied).toBe(false);
    const filed = await partition(messageId);
    expect(filed.jobs.map((j) => j.status)).toEqual(['pending', 'pending']);
    expect(filed.message?.sweepAt).toBeDefined();
  });

  it('a filed message whose jobs map holds only a job type since retired leaves the index (never pinned there by the claim guard)', async () => {
    const wamid = `wamid.${randomUUID()}`;
    const messageId = messageIdFor(tenant.tenantId, `wamid:${wamid}`);
    expect((await deliver(wamid)).json).toMatchObject({ received: 1, stored: 1 });
    // Its jobs map as a release that has dropped the type would read it: no entry it parses.
    await ddb.send(
      new UpdateCommand({
        TableName: tableName('inbound'),
        Key: keys.message(messageId),
        UpdateExpression: 'SET jobs = :retired',
        ExpressionAttributeValues: {
          ':retired': {
            retired_job: {
              status: 'pending',
              attempts: 0,
              generation: 1,
              updatedAt: '2026-01-01T00:00:00.000Z',
            },
          },
        },
      }),
    );
    pastGrace();
    await recover();
    const { message, jobs } = await partition(messageId);
    expect(jobs).toEqual([]);
    expect(message?.sweepAt).toBeUndefined();
  });

  it('a claim whose delivery never came back leaves the index on the next sweep; a late redelivery still runs its jobs once', async () => {
    const { wamid, messageId } = await crashAfterClaim();
    pastGrace();
    await recover();
    const swept = (await partition(messageId)).message;
    expect(swept?.conversationId).toBeUndefined();
    expect(swept?.sweepAt).toBeUndefined();
    // Still a claim, which expires unless a delivery files it.
    expect(swept?.expiresAt).toBeDefined();
    expect((await deliver(wamid)).json).toMatchObject({ received: 1, stored: 1 });
    await settleJobs(env, messageId);
    const { message, interactions } = await partition(messageId);
    expect(interactions).toHaveLength(1);
    // Every job settled: out of the index.
    expect(message?.sweepAt).toBeUndefined();
  });
});
