/**
 * The replies' reconcile sweep (a schedule, every minute): every reply due on `RSWEEP#<shard>`.
 *
 * - `queued` past its due time: its doorbell may be lost (a crash between the write and the
 *   enqueue, a message parked in the DLQ): rung again, due again a minute later.
 * - `sending` without a provider id once its lease and the reconcile window are over: the kernel's
 *   `settleUnknownOutcome` decides on the evidence — the channel's read of its own record where it
 *   has one (`ReplyChannel.findSent`), else the tenant's `unknownOutcome` policy (`hold`: the reply
 *   ends `unknown`, resent only when an operator asks; `retry_once`: one more attempt, recorded).
 *   Statuses and echoes carrying the reply id or provider id complete it meanwhile, at any time.
 */

import { batchGetAll } from '../kernel/batch-get.js';
import { isoTime } from '../kernel/clock.js';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { defineFailpoint, failpoint } from '../kernel/failpoints.js';
import { LEASE_EXPIRES_AT, LEASE_OWNER } from '../kernel/lease.js';
import {
  type SendEvidence,
  settleUnknownOutcome,
  type UnknownOutcomePolicy,
} from '../kernel/outbound-effect.js';
import { queryAll } from '../kernel/paginate.js';
import { countMetric, logger } from '../kernel/telemetry.js';
import {
  REPLY_SWEEP_INDEX,
  REPLY_SWEEP_SHARDS,
  type ReplyItem,
  replyKeys,
  toReplyItem,
} from './items.js';
import { type ReplyDeps, ringReply } from './reply-store.js';
import { type EchoKeyOf, type ReplySenderDeps, recordReplySent, sendOf } from './sender.js';

export const FP_RECONCILE_AFTER_REQUEUE = defineFailpoint(
  'reply.reconcile.after-requeue',
  'an unknown-outcome reply released for one more attempt, its doorbell not yet enqueued',
);

export interface ReconcileDeps extends ReplyDeps {
  readonly channels: ReplySenderDeps['channels'];
  readonly echoKeyOf: EchoKeyOf;
  readonly unknownOutcome: (tenantId: string) => Promise<UnknownOutcomePolicy>;
  readonly reconcileWindowSeconds: number;
}

export interface ReconcileReport {
  rerung: number;
  recorded: number;
  released: number;
  retried: number;
  held: number;
}

export async function reconcileReplies(deps: ReconcileDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { rerung: 0, recorded: 0, released: 0, retried: 0, held: 0 };
  const now = isoTime(deps.clock);
  for (let shard = 0; shard < REPLY_SWEEP_SHARDS; shard++) {
    const due = await queryAll(
      deps.ddb,
      {
        TableName: deps.table,
        IndexName: REPLY_SWEEP_INDEX,
        KeyConditionExpression: 'sweepPk = :pk AND sweepAt <= :now',
        ExpressionAttributeValues: { ':pk': replyKeys.sweep(shard), ':now': now },
      },
      { maxItems: 500 },
    );
    // The index is keys only and eventually consistent: each due reply is read as it stands, in
    // strongly consistent batches (one request per 100 due replies, not one per reply).
    const items = await batchGetAll(
      deps.ddb,
      deps.table,
      due.map((entry) => ({ pk: String(entry.pk), sk: String(entry.sk) })),
    );
    for (const item of items) {
      const reply = toReplyItem(item);
      if (reply) await settle(deps, reply, report);
    }
  }
  return report;
}

async function settle(deps: ReconcileDeps, reply: ReplyItem, report: ReconcileReport) {
  const now = deps.clock.now();
  const key = replyKeys.reply(reply.messageId);
  if (reply.status === 'queued') {
    const moved = await conditionalUpdate(deps.ddb, {
      table: deps.table,
      key,
      set: { sweepAt: new Date(now + 60_000).toISOString() },
      add: { rings: 1 },
      conditions: [
        {
          expression: '#st = :queued',
          names: { '#st': 'status' },
          values: { ':queued': 'queued' },
        },
      ],
    });
    if (!moved.applied) return;
    await ringReply(deps, reply, Number(moved.item.rings ?? 1) + reply.attempts * 1000);
    report.rerung += 1;
    return;
  }
  if (reply.status !== 'sending') {
    // Moved on (a status or echo completed it): it leaves the sweep.
    await conditionalUpdate(deps.ddb, {
      table: deps.table,
      key,
      remove: ['sweepPk', 'sweepAt'],
      conditions: [
        {
          expression: '#st <> :sending AND #st <> :queued',
          names: { '#st': 'status' },
          values: { ':sending': 'sending', ':queued': 'queued' },
        },
      ],
    });
    return;
  }
  const channel = deps.channels[reply.channel];
  const since = Date.parse(reply.sendingSince ?? reply.createdAt);
  const windowOver =
    (reply.leaseExpiresAt ?? 0) <= now && since + deps.reconcileWindowSeconds * 1000 <= now;
  // The provider's own record is read only once it can matter (and the call cannot still run).
  const evidence: SendEvidence | undefined =
    windowOver && channel?.findSent ? await channel.findSent(sendOf(reply)) : undefined;
  const decision = settleUnknownOutcome(
    {
      providerMessageId: reply.providerMessageId,
      sendingSince: since,
      leaseExpiresAt: reply.leaseExpiresAt,
      unknownRetries: reply.unknownRetries,
    },
    {
      now,
      reconcileWindowSeconds: deps.reconcileWindowSeconds,
      policy: await deps.unknownOutcome(reply.tenantId),
      ...(evidence ? { evidence } : {}),
    },
  );
  if (decision.kind === 'wait') return;
  if (decision.kind === 'record') {
    await recordReplySent(deps, reply, decision.providerMessageId);
    report.recorded += 1;
    return;
  }
  const guard = {
    expression:
      '#st = :sending AND attribute_not_exists(providerMessageId) AND sendingSince = :since',
    names: { '#st': 'status' },
    values: { ':sending': 'sending', ':since': reply.sendingSince },
  };
  const nowIso = new Date(now).toISOString();
  if (decision.kind === 'hold') {
    const held = await conditionalUpdate(deps.ddb, {
      table: deps.table,
      key,
      set: {
        status: 'unknown',
        updatedAt: nowIso,
        lastError: `outcome unknown: no provider evidence within ${deps.reconcileWindowSeconds}s of attempt ${reply.attempts}; held, not sent again unless retried`,
      },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT, 'sweepPk', 'sweepAt'],
      conditions: [guard],
    });
    if (held.applied) {
      report.held += 1;
      countMetric('ReplyUnknownOutcomeHeld');
    }
    return;
  }
  const retry = decision.kind === 'retry';
  const released = await conditionalUpdate(deps.ddb, {
    table: deps.table,
    key,
    set: {
      status: 'queued',
      updatedAt: nowIso,
      sweepAt: new Date(now + 60_000).toISOString(),
      lastError: retry
        ? `outcome unknown: no provider evidence within ${deps.reconcileWindowSeconds}s; retried once (unknownOutcome: retry_once)`
        : 'the provider has no record of the send: sent again',
    },
    ...(retry ? { add: { unknownRetries: 1 } } : {}),
    remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
    conditions: [guard],
  });
  if (!released.applied) return;
  // A release (the provider's own record shows no send) is reported and logged, not yet counted as a
  // metric: the one deployed channel with `findSent` is Unipile e-mail (wired in `replyChannels`);
  // its catalogue entry comes with an alarms-test flow that drives a release through it.
  if (retry) {
    countMetric('ReplyUnknownOutcomeRetried');
    report.retried += 1;
  } else {
    logger.info('reply released: the provider has no record of the send', {
      messageId: reply.messageId,
    });
    report.released += 1;
  }
  failpoint(FP_RECONCILE_AFTER_REQUEUE);
  await ringReply(deps, reply, reply.attempts * 1000 + 500);
}
