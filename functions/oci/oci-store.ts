/**
 * The OCI store: the port the domain modules use, and its DynamoDB adapter on the `conversions`
 * table. The items and their keys are declared in `items.ts` (the only place a key is spelled).
 *
 * The index only proposes candidates (it is eventually consistent on AWS): every claim and every
 * transition is a conditional write on the base item, so a stale index delays, never duplicates.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { writeAtomically } from '../kernel/atomic.js';
import {
  type ConditionalUpdateInput,
  conditionalUpdate,
  conditionalUpdateWrite,
} from '../kernel/conditional-update.js';
import { keyCursor } from '../kernel/cursor.js';
import { type ReadEach, readEach } from '../kernel/item-reader.js';
import { queryItems, queryPage } from '../kernel/paginate.js';
import { type Item, putOnce } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import { retryOnConflict } from '../kernel/retry.js';
import type { Condition, UpdateSpec } from '../kernel/update-expression.js';
import {
  adjustmentItem,
  callItem,
  conversionItem,
  keys,
  sessionItem,
  toCall,
  toCandidate,
  toRow,
  toSession,
} from './items.js';
import {
  type Adjustment,
  type Call,
  type Conversion,
  KNOWN_UNCOUNTED_ERRORS,
  knownUncounted,
  type OciRow,
  type RowStatus,
  type SessionClaim,
} from './model.js';

export type CreateCallResult =
  | { readonly created: true; readonly call: Call }
  | { readonly created: false; readonly existing: Call };

export type CreateConversionResult =
  | { readonly created: true; readonly conversion: Conversion }
  | { readonly created: false; readonly existing: SessionClaim };

export type RowRef = Pick<OciRow, 'tenantId' | 'conversionId' | 'kind'>;

/** A row the sweep index proposes, with the customer its upload request goes to. */
export interface Candidate extends RowRef {
  readonly customerId: string;
}

export interface ClaimInput {
  readonly claimId: string;
  readonly now: number;
  readonly leaseExpiresAt: number;
}

export type RowResult =
  | { readonly to: 'completed'; readonly jobId?: string; readonly countedUnder?: 'click' }
  | { readonly to: 'retry'; readonly notBefore: string; readonly error?: string }
  | { readonly to: 'failed'; readonly error: string }
  | { readonly to: 'uploaded' };

export interface ListPage {
  readonly conversions: Conversion[];
  readonly nextCursor: string | null;
}

export interface OciStore {
  createCall(call: Call): Promise<CreateCallResult>;
  getCall(tenantId: string, callId: string): Promise<Call | undefined>;
  /** The conversion and its session item in one conditional transaction. */
  createConversion(conversion: Conversion): Promise<CreateConversionResult>;
  getSession(tenantId: string, orderId: string): Promise<SessionClaim | undefined>;
  getRow(ref: RowRef): Promise<OciRow | undefined>;
  /**
   * Candidate rows from the sparse index (may be stale: claim decides). An entry too malformed to
   * read is handed back as its error, so one bad row never stops every tenant's uploads.
   */
  pendingCandidates(sweepPk: string, nowIso: string, limit: number): Promise<ReadEach<Candidate>>;
  /**
   * `queued`/`retry` (and due, and no retraction requested) → `processing` with this claim;
   * undefined when someone else won. A retraction is claimed only while Google may hold its
   * conversion; one whose conversion Google never counted is closed without sending.
   */
  claim(ref: RowRef, input: ClaimInput): Promise<OciRow | undefined>;
  /** Records a claimed row's result; only while `claimId` still holds it. */
  recordResult(ref: RowRef, claimId: string, result: RowResult, nowIso: string): Promise<boolean>;
  /**
   * An ack from the script (no claim id): from `processing` (or `retry` / `uploaded` for final
   * answers: Google's word about a row that went back to retry or was handed over unconfirmed).
   */
  recordAck(ref: RowRef, result: RowResult, nowIso: string): Promise<boolean>;
  /** Rows whose lease expired before `nowIso`. */
  expiredLeases(nowIso: string, limit: number): Promise<ReadEach<RowRef>>;
  /** `processing` with an expired lease → `retry` (same orderId). */
  releaseExpired(ref: RowRef, now: number): Promise<boolean>;
  /**
   * `queued` → `withdrawn` (retracted before it was ever claimed), or `retry` → `withdrawn` when
   * Google said, row by row, that it did not count it (`knownUncounted`: API mode).
   */
  withdraw(ref: RowRef, nowIso: string): Promise<boolean>;
  /** Marks a conversion Google never counted (failed) as retracted; once. */
  markRetracted(ref: RowRef, nowIso: string): Promise<boolean>;
  /** The retraction row and the conversion's request mark in one transaction. */
  createRetraction(adjustment: Adjustment): Promise<'created' | 'exists' | 'conversion_changed'>;
  /** Newest first; a cursor not of this tenant's listing is the contract's 400. */
  listConversions(
    tenantId: string,
    status: RowStatus | undefined,
    cursor?: string,
  ): Promise<ListPage>;
}

/** A row's status condition: `#status` is one of `statuses`. */
function statusIn(...statuses: RowStatus[]): Condition {
  const values = Object.fromEntries(statuses.map((status) => [`:s_${status}`, status]));
  return {
    expression:
      statuses.length === 1
        ? `#status = :s_${statuses[0]}`
        : `#status IN (${Object.keys(values).join(', ')})`,
    names: { '#status': 'status' },
    values,
  };
}

/** A row back in the pending sweep: under its own `pendingPk` again, due at `at`. */
function backToPending(at: string): Pick<UpdateSpec, 'copy' | 'set'> {
  return { copy: { sweepPk: 'pendingPk' }, set: { sweepAt: at } };
}

export class DynamoOciStore implements OciStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async createCall(call: Call): Promise<CreateCallResult> {
    const result = await putOnce(this.ddb, {
      table: this.table,
      item: callItem(call),
    });
    return result.created
      ? { created: true, call }
      : { created: false, existing: toCall(result.existing) };
  }

  async getCall(tenantId: string, callId: string): Promise<Call | undefined> {
    const item = await readItem(this.ddb, this.table, keys.call(tenantId, callId));
    return item ? toCall(item) : undefined;
  }

  async createConversion(conversion: Conversion): Promise<CreateConversionResult> {
    const session: SessionClaim = {
      tenantId: conversion.tenantId,
      sessionId: conversion.sessionId,
      orderId: conversion.orderId,
      conversionId: conversion.conversionId,
      callId: conversion.callId,
    };
    return retryOnConflict(async () => {
      const result = await writeAtomically(this.ddb, [
        {
          label: 'session',
          put: {
            table: this.table,
            item: sessionItem(session, conversion.createdAt),
            condition: 'attribute_not_exists(pk)',
          },
        },
        {
          label: 'conversion',
          put: {
            table: this.table,
            item: conversionItem(conversion),
            condition: 'attribute_not_exists(pk)',
          },
        },
      ]);
      if (result.ok) return { created: true, conversion };
      if (result.failed === 'session') {
        if (result.current) return { created: false, existing: toSession(result.current) };
        // No item came back with the failure: read the winner by key, consistently.
        const existing = await this.getSession(conversion.tenantId, conversion.orderId);
        if (existing) return { created: false, existing };
      }
      throw new Error(`conversion write refused by ${result.failed}`);
    });
  }

  async getSession(tenantId: string, orderId: string): Promise<SessionClaim | undefined> {
    const item = await readItem(this.ddb, this.table, keys.session(tenantId, orderId));
    return item ? toSession(item) : undefined;
  }

  async getRow(ref: RowRef): Promise<OciRow | undefined> {
    const item = await readItem(
      this.ddb,
      this.table,
      keys.row(ref.tenantId, ref.conversionId, ref.kind),
    );
    return item ? toRow(item) : undefined;
  }

  pendingCandidates(sweepPk: string, nowIso: string, limit: number): Promise<ReadEach<Candidate>> {
    return readEach(this.querySweep(sweepPk, nowIso, limit), toCandidate);
  }

  private querySweep(sweepPk: string, nowIso: string, limit: number): AsyncIterable<Item> {
    return queryItems(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'sweep',
        KeyConditionExpression: 'sweepPk = :pk AND sweepAt <= :now',
        ExpressionAttributeValues: { ':pk': sweepPk, ':now': nowIso },
      },
      { pageSize: Math.min(1000, limit), maxItems: limit },
    );
  }

  async claim(ref: RowRef, input: ClaimInput): Promise<OciRow | undefined> {
    const nowIso = new Date(input.now).toISOString();
    const claim: ConditionalUpdateInput = {
      table: this.table,
      key: keys.row(ref.tenantId, ref.conversionId, ref.kind),
      set: {
        status: 'processing',
        claimId: input.claimId,
        claimedAt: nowIso,
        leaseExpiresAt: input.leaseExpiresAt,
        sweepPk: keys.leased(ref.conversionId),
        sweepAt: new Date(input.leaseExpiresAt).toISOString(),
      },
      add: { attempts: 1 },
      conditions: [
        statusIn('queued', 'retry'),
        { expression: 'notBefore <= :nowIso', values: { ':nowIso': nowIso } },
      ],
    };
    if (ref.kind === 'conversion') {
      const out = await conditionalUpdate(this.ddb, {
        ...claim,
        // A conversion with a retraction requested is never uploaded again.
        conditions: [
          ...(claim.conditions ?? []),
          { expression: 'attribute_not_exists(retractRequestedAt)' },
        ],
      });
      if (out.applied) return toRow(out.item);
      const current = out.current ? toRow(out.current) : undefined;
      if (current?.kind === 'conversion' && current.retractRequestedAt !== undefined) {
        await this.leaveSweep(ref, ['queued', 'retry']);
      }
      return undefined;
    }
    // A retraction goes to Google only while Google may hold the conversion: the claim checks, in
    // the same transaction, that the conversion was counted (`completed`), may have been
    // (`uploaded` by a script, or `withdrawn` after an unknown outcome), and not under another
    // orderId (`countedUnder`).
    const conversionKey = keys.row(ref.tenantId, ref.conversionId, 'conversion');
    const mayHold = statusIn('completed', 'uploaded', 'withdrawn');
    const result = await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        conditionalUpdateWrite('claim', claim),
        {
          label: 'conversion',
          check: {
            table: this.table,
            key: conversionKey,
            condition: `${mayHold.expression} AND attribute_not_exists(countedUnder)`,
            names: mayHold.names,
            values: mayHold.values,
          },
        },
      ]),
    );
    if (result.ok) return this.getRow(ref);
    const failed = result.failed === 'conversion' ? result.current : undefined;
    const conversion = failed ? toRow(failed) : undefined;
    if (conversion?.kind !== 'conversion') return undefined;
    if (conversion.status === 'failed') {
      // Google refused the conversion: nothing to retract there.
      await this.closeRetraction(ref, nowIso, 'CONVERSION_NEVER_COUNTED');
    } else if (conversion.countedUnder !== undefined) {
      // Counted under another session's orderId: retracting by click and time would take that
      // one, by this orderId would find nothing. Closed, nothing sent.
      await this.closeRetraction(ref, nowIso, 'COUNTED_UNDER_OTHER_ORDER_ID');
    } else if (conversion.status === 'retry') {
      const uncounted = knownUncounted(conversion);
      // Known uncounted: a plain withdrawal, nothing sent. Unknown: the conversion is withdrawn
      // from upload and the retraction goes (the next claim passes the check).
      if (uncounted) await this.closeRetraction(ref, nowIso, 'CONVERSION_NEVER_COUNTED', true);
      else await conditionalUpdate(this.ddb, this.withdrawFromRetry(ref, nowIso, false));
    }
    return undefined;
  }

  /** A row that waits for nothing leaves the sweep index (it stays in its state). */
  private async leaveSweep(ref: RowRef, statuses: RowStatus[]): Promise<void> {
    await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.row(ref.tenantId, ref.conversionId, ref.kind),
      remove: ['sweepPk', 'sweepAt'],
      conditions: [statusIn(...statuses), { expression: 'attribute_exists(sweepPk)' }],
    });
  }

  /** `retry` → `withdrawn` for a conversion whose retraction was requested. */
  private withdrawFromRetry(
    ref: RowRef,
    nowIso: string,
    retracted: boolean,
  ): ConditionalUpdateInput {
    return {
      table: this.table,
      key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
      set: { status: 'withdrawn', ...(retracted ? { retractedAt: nowIso } : {}) },
      remove: ['sweepPk', 'sweepAt'],
      conditions: [statusIn('retry'), { expression: 'attribute_exists(retractRequestedAt)' }],
    };
  }

  /**
   * A retraction with nothing to send ends `completed`, the reason in `lastError`; the conversion
   * is marked retracted (and, waiting in `retry` uncounted, withdrawn) in the same transaction.
   */
  private async closeRetraction(
    ref: RowRef,
    nowIso: string,
    note: string,
    withdrawConversion = false,
  ): Promise<void> {
    await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        conditionalUpdateWrite('retraction', {
          table: this.table,
          key: keys.row(ref.tenantId, ref.conversionId, 'adjustment'),
          set: { status: 'completed', completedAt: nowIso, lastError: note },
          remove: ['sweepPk', 'sweepAt'],
          conditions: [statusIn('queued', 'retry')],
        }),
        withdrawConversion
          ? conditionalUpdateWrite('conversion', this.withdrawFromRetry(ref, nowIso, true))
          : conditionalUpdateWrite('conversion', {
              table: this.table,
              key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
              set: { retractedAt: nowIso },
              conditions: [{ expression: 'attribute_not_exists(retractedAt)' }],
            }),
      ]),
    );
  }

  /** A claimed row's result as an update: terminal rows leave the sweep index, `retry` returns. */
  private resultUpdate(result: RowResult, nowIso: string): UpdateSpec {
    const remove = ['claimId', 'leaseExpiresAt'];
    if (result.to === 'completed') {
      return {
        set: {
          status: result.to,
          completedAt: nowIso,
          ...(result.jobId !== undefined ? { jobId: result.jobId } : {}),
          ...(result.countedUnder ? { countedUnder: result.countedUnder } : {}),
        },
        remove: [...remove, 'sweepPk', 'sweepAt'],
      };
    }
    if (result.to === 'uploaded') {
      return { set: { status: result.to }, remove: [...remove, 'sweepPk', 'sweepAt'] };
    }
    if (result.to === 'failed') {
      return {
        set: { status: result.to, lastError: result.error },
        remove: [...remove, 'sweepPk', 'sweepAt'],
      };
    }
    const back = backToPending(result.notBefore);
    return {
      copy: back.copy,
      set: {
        ...back.set,
        status: result.to,
        notBefore: result.notBefore,
        ...(result.error ? { lastError: result.error } : {}),
      },
      remove,
    };
  }

  /** A completed retraction also stamps the conversion, in the same transaction. */
  private async applyResult(
    ref: RowRef,
    result: RowResult,
    nowIso: string,
    conditions: readonly Condition[],
  ): Promise<boolean> {
    const write: ConditionalUpdateInput = {
      table: this.table,
      key: keys.row(ref.tenantId, ref.conversionId, ref.kind),
      ...this.resultUpdate(result, nowIso),
      conditions,
    };
    if (ref.kind === 'adjustment' && result.to === 'completed') {
      const out = await retryOnConflict(() =>
        writeAtomically(this.ddb, [
          conditionalUpdateWrite('retraction', write),
          conditionalUpdateWrite('conversion', {
            table: this.table,
            key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
            setIfAbsent: { retractedAt: nowIso },
          }),
        ]),
      );
      return out.ok;
    }
    return (await conditionalUpdate(this.ddb, write)).applied;
  }

  recordResult(ref: RowRef, claimId: string, result: RowResult, nowIso: string): Promise<boolean> {
    return this.applyResult(ref, result, nowIso, [
      statusIn('processing'),
      { expression: 'claimId = :claim', values: { ':claim': claimId } },
    ]);
  }

  recordAck(ref: RowRef, result: RowResult, nowIso: string): Promise<boolean> {
    // A late ack of a row the stale recovery already moved to `retry`, or of one a script handed
    // over unconfirmed, still tells the truth about Google for a final answer; so does Google's own
    // "not yet" (`retry` with its code, e.g. TOO_RECENT_CONVERSION_ACTION from the Uploads page)
    // for a row handed over unconfirmed, which would otherwise never be sent again. A bare `retry`
    // (the script could not apply its file) or `uploaded` only moves a row still `processing`.
    const final = result.to === 'completed' || result.to === 'failed';
    const googleSaysLater = result.to === 'retry' && result.error !== undefined;
    const from = final
      ? statusIn('processing', 'retry', 'uploaded')
      : googleSaysLater
        ? statusIn('processing', 'uploaded')
        : statusIn('processing');
    return this.applyResult(ref, result, nowIso, [from]);
  }

  async expiredLeases(nowIso: string, limit: number): Promise<ReadEach<RowRef>> {
    const refs: ReadEach<RowRef> = { read: [], unreadable: [] };
    for (const shard of keys.leasedShards()) {
      if (refs.read.length >= limit) break;
      const page = await readEach(
        this.querySweep(shard, nowIso, limit - refs.read.length),
        toCandidate,
      );
      refs.read.push(...page.read);
      refs.unreadable.push(...page.unreadable);
    }
    return refs;
  }

  async releaseExpired(ref: RowRef, now: number): Promise<boolean> {
    const nowIso = new Date(now).toISOString();
    const back = backToPending(nowIso);
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.row(ref.tenantId, ref.conversionId, ref.kind),
      copy: back.copy,
      set: { ...back.set, status: 'retry', notBefore: nowIso, lastError: 'LEASE_EXPIRED' },
      remove: ['claimId', 'leaseExpiresAt'],
      conditions: [
        statusIn('processing'),
        { expression: 'leaseExpiresAt <= :now', values: { ':now': now } },
      ],
    });
    return out.applied;
  }

  async withdraw(ref: RowRef, nowIso: string): Promise<boolean> {
    const retry = statusIn('retry');
    const uncounted = Object.fromEntries(
      KNOWN_UNCOUNTED_ERRORS.map((e, i) => [`:uncounted${i}`, e]),
    );
    // `knownUncounted`, as a condition: API mode only.
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
      set: { status: 'withdrawn', retractRequestedAt: nowIso, retractedAt: nowIso },
      remove: ['sweepPk', 'sweepAt'],
      conditions: [
        {
          expression: `#status = :s_queued OR (${retry.expression} AND uploadMode = :api AND lastError IN (${Object.keys(uncounted).join(', ')}))`,
          names: { '#status': 'status' },
          values: { ':s_queued': 'queued', ':api': 'api', ...retry.values, ...uncounted },
        },
      ],
    });
    return out.applied;
  }

  async markRetracted(ref: RowRef, nowIso: string): Promise<boolean> {
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
      set: { retractRequestedAt: nowIso, retractedAt: nowIso },
      conditions: [statusIn('failed'), { expression: 'attribute_not_exists(retractedAt)' }],
    });
    return out.applied;
  }

  async createRetraction(
    adjustment: Adjustment,
  ): Promise<'created' | 'exists' | 'conversion_changed'> {
    const result = await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        {
          label: 'retraction',
          put: {
            table: this.table,
            item: adjustmentItem(adjustment),
            condition: 'attribute_not_exists(pk)',
          },
        },
        conditionalUpdateWrite('conversion', {
          table: this.table,
          key: keys.row(adjustment.tenantId, adjustment.conversionId, 'conversion'),
          set: { retractRequestedAt: adjustment.createdAt },
          conditions: [statusIn('processing', 'retry', 'completed', 'uploaded')],
        }),
      ]),
    );
    if (result.ok) return 'created';
    return result.failed === 'retraction' ? 'exists' : 'conversion_changed';
  }

  async listConversions(
    tenantId: string,
    status: RowStatus | undefined,
    cursor?: string,
  ): Promise<ListPage> {
    const listing = keys.listing(tenantId);
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ...(status
          ? {
              FilterExpression: '#status = :status',
              ExpressionAttributeNames: { '#status': 'status' },
            }
          : {}),
        ExpressionAttributeValues: { ':pk': listing, ...(status ? { ':status': status } : {}) },
        ScanIndexForward: false,
        Limit: 100,
      },
      cursor,
      // A cursor only ever continues the tenant's own listing.
      keyCursor(['pk', 'sk', 'gsi1pk', 'gsi1sk'], { gsi1pk: listing }),
    );
    return {
      conversions: page.items.map((item) => toRow(item) as Conversion),
      nextCursor: page.nextCursor,
    };
  }
}
