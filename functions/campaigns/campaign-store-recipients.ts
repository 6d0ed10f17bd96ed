/**
 * One recipient's adapter: its reads, and every move of it (a sender's claim and its end, the wamid,
 * a provider status, recovery's settling, an operator's retry), each one conditional `UpdateItem`
 * of the recipient alone (the kernel's `transition` and leases without companions): no counter
 * item, no transaction. The counts follow from the moves' stream records (`counter-fold.ts`), so a
 * move shares no item with any other contact's and cannot meet a `TransactionConflict`.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalUpdate } from '../kernel/conditional-update.js';
import { claimLease, LEASE_EXPIRES_AT, LEASE_OWNER, releaseLease } from '../kernel/lease.js';
import { queryItems } from '../kernel/paginate.js';
import { readItem } from '../kernel/read-item.js';
import { type TransitionInput, transition } from '../kernel/transition.js';
import type { Condition } from '../kernel/update-expression.js';
import type {
  AcceptedWamid,
  Claim,
  ClaimEnd,
  RecipientRecords,
  StatusMove,
  UnknownEnd,
} from './campaign-store.js';
import { dueInSweep } from './campaign-store-sweep.js';
import {
  type CampaignShard,
  isRecipientOf,
  keys,
  parseRecipient,
  type RecipientItem,
  type RecipientRef,
  shardOf,
} from './items.js';
import type { RecipientStatus } from './model.js';

const SWEEP = ['sweepPk', 'sweepAt'];

/** Guard: the recipient is still `pending` (not claimed by a sender meanwhile). */
const STILL_PENDING: Condition = {
  expression: '#st = :pending',
  names: { '#st': 'status' },
  values: { ':pending': 'pending' },
};

/**
 * Guard: the recipient is still `sending` and holds no wamid, so a claim may end (failed, back to
 * pending) or an accepted wamid may be kept without overwriting another.
 */
const SENDING_WITHOUT_WAMID: Condition = {
  expression: '#st = :sending AND attribute_not_exists(#pmid)',
  names: { '#st': 'status', '#pmid': 'providerMessageId' },
  values: { ':sending': 'sending' },
};

const keyOf = (ref: RecipientRef) => keys.recipient(ref.tenantId, ref.campaignId, ref.phone);

/** A pending recipient's entry in its shard's sweep partition, due at `at`. */
const pendingSweepAt = (ref: RecipientRef, at: string) => ({
  sweepPk: keys.pendingSweep(ref.tenantId, ref.campaignId, shardOf(ref.phone)),
  sweepAt: at,
});

/** The wamid and its index entry (`gsi1`: statuses without the echo still find the recipient). */
const wamidFields = (accepted: AcceptedWamid) => ({
  providerMessageId: accepted.wamid,
  gsi1pk: keys.wamidIndex(accepted.phoneNumberId, accepted.wamid),
  gsi1sk: 'R',
});

export class DynamoRecipientRecords implements RecipientRecords {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** A recipient transition: one conditional write, guarded on the from-state and `also`. */
  private async move(
    ref: RecipientRef,
    from: RecipientStatus,
    to: RecipientStatus,
    input: Pick<TransitionInput, 'set' | 'remove' | 'also'>,
  ): Promise<boolean> {
    const result = await transition(this.ddb, {
      table: this.table,
      key: keyOf(ref),
      from: [from],
      to,
      ...input,
    });
    return result.applied;
  }

  async get(ref: RecipientRef): Promise<RecipientItem | undefined> {
    const raw = await readItem(this.ddb, this.table, keyOf(ref));
    return raw ? parseRecipient(raw) : undefined;
  }

  async findByWamid(
    tenantId: string,
    phoneNumberId: string,
    wamid: string,
  ): Promise<RecipientItem | undefined> {
    const hits = queryItems(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :w',
        ExpressionAttributeValues: { ':w': keys.wamidIndex(phoneNumberId, wamid) },
        Limit: 2,
      },
      { maxItems: 2 },
    );
    // The index holds keys only; the tenant is in the recipient's partition key.
    for await (const hit of hits) {
      if (!isRecipientOf(hit.pk, tenantId)) continue;
      const raw = await readItem(this.ddb, this.table, { pk: hit.pk, sk: hit.sk });
      return raw ? parseRecipient(raw) : undefined;
    }
    return undefined;
  }

  async claim(ref: RecipientRef, claim: Claim): Promise<boolean> {
    const sendingSince = new Date(claim.now).toISOString();
    const shard = shardOf(ref.phone);
    // The kernel's lease (free or expired), pending → sending and one more attempt in one
    // conditional write. The attempts guard makes a claim decided on a stale read (another
    // delivery claimed and released meanwhile) lose.
    const result = await claimLease(this.ddb, {
      table: this.table,
      key: keyOf(ref),
      owner: claim.owner,
      leaseSeconds: claim.leaseSeconds,
      clock: { now: () => claim.now },
      increment: 'attempts',
      set: {
        status: 'sending',
        sendingSince,
        sweepPk: keys.sendingSweep(ref.tenantId, ref.campaignId, shard),
        sweepAt: claim.dueAt,
        updatedAt: sendingSince,
      },
      remove: ['retryAt'],
      also: {
        expression: '#st = :pending AND #att = :att',
        names: { '#st': 'status', '#att': 'attempts' },
        values: { ':pending': 'pending', ':att': claim.attemptsSeen },
      },
    });
    if (result.claimed) return true;
    // An SDK retry of this very claim, its first attempt committed and its answer lost, is refused
    // by the claim's own guards (no longer `pending`, one attempt more). A plain UpdateItem has no
    // ClientRequestToken, as the transaction it replaced had
    // (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html):
    // the item showing exactly this claim — its owner, its attempt, its start — is ours.
    const current = result.current;
    return (
      current?.status === 'sending' &&
      current[LEASE_OWNER] === claim.owner &&
      current.attempts === claim.attemptsSeen + 1 &&
      current.sendingSince === sendingSince
    );
  }

  storeWamid(ref: RecipientRef, accepted: AcceptedWamid): Promise<boolean> {
    return this.move(ref, 'sending', 'sent', {
      set: { ...wamidFields(accepted), updatedAt: accepted.at, statusAt: accepted.at },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT, ...SWEEP, 'lastError'],
      also: { expression: 'attribute_not_exists(#pmid)', names: { '#pmid': 'providerMessageId' } },
    });
  }

  async keepWamid(ref: RecipientRef, accepted: AcceptedWamid): Promise<void> {
    // Not applied: moved on meanwhile (a status webhook carried the same wamid), so it is stored.
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keyOf(ref),
      set: {
        ...wamidFields(accepted),
        updatedAt: accepted.at,
        sweepPk: keys.sendingSweep(ref.tenantId, ref.campaignId, shardOf(ref.phone)),
        sweepAt: accepted.at,
      },
      conditions: [SENDING_WITHOUT_WAMID],
    });
  }

  endClaim(ref: RecipientRef, owner: string, end: ClaimEnd): Promise<boolean> {
    const set: Record<string, unknown> = { lastError: end.lastError };
    if (end.to === 'pending') {
      if (end.retryAt !== undefined) set.retryAt = end.retryAt;
      Object.assign(set, pendingSweepAt(ref, end.dueAt));
    }
    // The kernel's lease release: only if we still hold the lease and the recipient is still
    // `sending` without a wamid, in one conditional write.
    return releaseLease(this.ddb, {
      table: this.table,
      key: keyOf(ref),
      owner,
      set: { ...set, status: end.to, updatedAt: end.at },
      ...(end.to === 'failed' ? { remove: SWEEP } : {}),
      also: SENDING_WITHOUT_WAMID,
    });
  }

  applyStatus(current: RecipientItem, move: StatusMove): Promise<boolean> {
    return this.move(current, current.status, move.to, {
      set: {
        ...wamidFields(move),
        statusAt: move.statusAt,
        updatedAt: move.at,
        ...(move.lastError !== undefined ? { lastError: move.lastError } : {}),
      },
      remove: [
        LEASE_OWNER,
        LEASE_EXPIRES_AT,
        ...SWEEP,
        'retryAt',
        ...(move.to === 'failed' ? [] : ['lastError']),
      ],
      also: {
        expression: 'attribute_not_exists(#pmid) OR #pmid = :wamid',
        names: { '#pmid': 'providerMessageId' },
        values: { ':wamid': move.wamid },
      },
    });
  }

  completeKeptWamid(current: RecipientItem, at: string): Promise<boolean> {
    return this.move(current, 'sending', 'sent', {
      set: { updatedAt: at, statusAt: at },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT, ...SWEEP, 'lastError'],
      also: {
        expression: '#pmid = :pmid',
        names: { '#pmid': 'providerMessageId' },
        values: { ':pmid': current.providerMessageId },
      },
    });
  }

  endUnknown(current: RecipientItem, end: UnknownEnd): Promise<boolean> {
    // The send is still the one recovery looked at: no wamid since, the same claim, lease over.
    const unchanged: Condition = {
      expression: 'attribute_not_exists(#pmid) AND #since = :since AND #lexp <= :now',
      names: { '#pmid': 'providerMessageId', '#since': 'sendingSince', '#lexp': LEASE_EXPIRES_AT },
      values: { ':since': current.sendingSince, ':now': end.now },
    };
    if (end.to === 'unknown') {
      return this.move(current, 'sending', 'unknown', {
        set: { lastError: end.lastError, updatedAt: end.at },
        remove: [LEASE_OWNER, LEASE_EXPIRES_AT, ...SWEEP],
        also: unchanged,
      });
    }
    return this.move(current, 'sending', 'pending', {
      set: {
        lastError: end.lastError,
        unknownRetries: end.unknownRetries,
        // Due at once: rung in this run, or in the next if this one stops before enqueueing.
        ...pendingSweepAt(current, end.at),
        updatedAt: end.at,
      },
      remove: [LEASE_OWNER, LEASE_EXPIRES_AT],
      also: unchanged,
    });
  }

  retryUnknown(
    ref: RecipientRef,
    retry: { operatorRetries: number; lastError: string; at: string; dueAt: string },
  ): Promise<boolean> {
    return this.move(ref, 'unknown', 'pending', {
      set: {
        operatorRetries: retry.operatorRetries,
        lastError: retry.lastError,
        ...pendingSweepAt(ref, retry.dueAt),
        updatedAt: retry.at,
      },
      also: {
        expression: 'attribute_not_exists(#or) OR #or = :before',
        names: { '#or': 'operatorRetries' },
        values: { ':before': retry.operatorRetries - 1 },
      },
    });
  }

  async markRung(
    ref: RecipientRef,
    seen: { ring: number; sweepAt: string | undefined },
    nextSweepAt: string,
  ): Promise<boolean> {
    const unchanged =
      seen.sweepAt === undefined
        ? { expression: 'attribute_not_exists(sweepAt)', values: {} }
        : { expression: 'sweepAt = :seen', values: { ':seen': seen.sweepAt } };
    const result = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keyOf(ref),
      set: {
        ...pendingSweepAt(ref, nextSweepAt),
        ring: seen.ring + 1,
      },
      remove: ['retryAt'],
      conditions: [
        STILL_PENDING,
        {
          expression: `${unchanged.expression} AND (attribute_not_exists(ring) OR ring = :old)`,
          values: { ...unchanged.values, ':old': seen.ring },
        },
      ],
    });
    return result.applied;
  }

  async tidy(current: RecipientItem): Promise<void> {
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keyOf(current),
      remove: SWEEP,
      conditions: [
        { expression: '#st = :st', names: { '#st': 'status' }, values: { ':st': current.status } },
      ],
    });
  }

  async *due(
    at: CampaignShard,
    which: 'sending' | 'pending',
    cutoff: string,
    budget: number,
  ): AsyncIterable<RecipientItem> {
    const partition =
      which === 'sending'
        ? keys.sendingSweep(at.tenantId, at.campaignId, at.shard)
        : keys.pendingSweep(at.tenantId, at.campaignId, at.shard);
    for await (const raw of dueInSweep(this.ddb, this.table, partition, cutoff, budget)) {
      yield parseRecipient(raw);
    }
  }
}
