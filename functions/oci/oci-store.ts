/**
 * The OCI store: the port the domain modules use, and its DynamoDB adapter on the `conversions`
 * table. Keys are built and parsed here only.
 *
 * Items:
 * - `TENANT#<t>#CALL#<callId> / CALL`: a call (idempotent by callId).
 * - `TENANT#<t>#ORDER#<orderId> / SESSION`: the per-session uniqueness item (orderId is a hash of
 *   tenant + session), written in the same transaction as the conversion it names.
 * - `TENANT#<t>#CONV#<conversionId> / CONV`: the conversion row; `/ RETRACT`: its retraction row.
 *   Listing: `gsi1pk = TENANT#<t>#OCI`, `gsi1sk = createdAt#conversionId`.
 *   Sparse `sweep` index, only while a schedule or an export has something to do with the row:
 *   pending rows under their `pendingPk` (`OCI#EXPORT#<t>#<kind>` for the script,
 *   `OCI#UPLOAD#<kind>#<shard>` for the API uploader) at `notBefore`; claimed rows under
 *   `OCI#LEASED#<shard>` at their lease expiry; terminal rows carry no sweep key.
 *
 * The index only proposes candidates (it is eventually consistent on AWS): every claim and every
 * transition is a conditional write on the base item, so a stale index delays, never duplicates.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { writeAtomically } from '../kernel/atomic.js';
import { retryOnConflict } from '../kernel/retry.js';
import type {
  Adjustment,
  Call,
  Conversion,
  OciRow,
  RowKind,
  RowStatus,
  SessionClaim,
  UploadMode,
} from './model.js';

const SHARDS = 4;

function shardOf(id: string): number {
  return createHash('sha256').update(id).digest().readUInt8(0) % SHARDS;
}

export const keys = {
  call: (tenantId: string, callId: string) => ({
    pk: `TENANT#${tenantId}#CALL#${callId}`,
    sk: 'CALL',
  }),
  session: (tenantId: string, orderId: string) => ({
    pk: `TENANT#${tenantId}#ORDER#${orderId}`,
    sk: 'SESSION',
  }),
  row: (tenantId: string, conversionId: string, kind: RowKind) => ({
    pk: `TENANT#${tenantId}#CONV#${conversionId}`,
    sk: kind === 'conversion' ? 'CONV' : 'RETRACT',
  }),
  listing: (tenantId: string) => `TENANT#${tenantId}#OCI`,
  pending(mode: UploadMode, tenantId: string, kind: RowKind, conversionId: string): string {
    return mode === 'script'
      ? `OCI#EXPORT#${tenantId}#${kind}`
      : `OCI#UPLOAD#${kind}#${shardOf(conversionId)}`;
  },
  uploadShards: (kind: RowKind) =>
    Array.from({ length: SHARDS }, (_, i) => `OCI#UPLOAD#${kind}#${i}`),
  leased: (conversionId: string) => `OCI#LEASED#${shardOf(conversionId)}`,
  leasedShards: () => Array.from({ length: SHARDS }, (_, i) => `OCI#LEASED#${i}`),
};

export type CreateCallResult =
  | { readonly created: true; readonly call: Call }
  | { readonly created: false; readonly existing: Call };

export type CreateConversionResult =
  | { readonly created: true; readonly conversion: Conversion }
  | { readonly created: false; readonly existing: SessionClaim };

export type RowRef = Pick<OciRow, 'tenantId' | 'conversionId' | 'kind'>;

export interface ClaimInput {
  readonly claimId: string;
  readonly now: number;
  readonly leaseExpiresAt: number;
}

export type RowResult =
  | { readonly to: 'completed'; readonly jobId?: number }
  | { readonly to: 'retry'; readonly notBefore: string; readonly error?: string }
  | { readonly to: 'failed'; readonly error: string };

export interface ListPage {
  readonly conversions: Conversion[];
  readonly nextCursor?: string;
}

export interface OciStore {
  createCall(call: Call): Promise<CreateCallResult>;
  getCall(tenantId: string, callId: string): Promise<Call | undefined>;
  /** The conversion and its session item in one conditional transaction. */
  createConversion(conversion: Conversion): Promise<CreateConversionResult>;
  getSession(tenantId: string, orderId: string): Promise<SessionClaim | undefined>;
  getRow(ref: RowRef): Promise<OciRow | undefined>;
  /** Candidate rows from the sparse index (may be stale: claim decides). */
  pendingCandidates(sweepPk: string, nowIso: string, limit: number): Promise<RowRef[]>;
  /** `queued`/`retry` (and due) → `processing` with this claim; undefined when someone else won. */
  claim(ref: RowRef, input: ClaimInput): Promise<OciRow | undefined>;
  /** Records a claimed row's result; only while `claimId` still holds it. */
  recordResult(ref: RowRef, claimId: string, result: RowResult, nowIso: string): Promise<boolean>;
  /** An ack from the script (no claim id): from `processing` (or `retry` for final answers). */
  recordAck(ref: RowRef, result: RowResult, nowIso: string): Promise<boolean>;
  /** Rows whose lease expired before `nowIso`. */
  expiredLeases(nowIso: string, limit: number): Promise<RowRef[]>;
  /** `processing` with an expired lease → `retry` (same orderId). */
  releaseExpired(ref: RowRef, now: number): Promise<boolean>;
  /** `queued` → `withdrawn`: retracted before it was ever claimed. */
  withdraw(ref: RowRef, nowIso: string): Promise<boolean>;
  /** Marks a conversion Google never counted (failed) as retracted; once. */
  markRetracted(ref: RowRef, nowIso: string): Promise<boolean>;
  /** The retraction row and the conversion's request mark in one transaction. */
  createRetraction(adjustment: Adjustment): Promise<'created' | 'exists' | 'conversion_changed'>;
  listConversions(
    tenantId: string,
    status: RowStatus | undefined,
    cursor?: string,
  ): Promise<ListPage>;
}

const ROW_FIELDS_DROPPED = ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'sweepPk', 'sweepAt', 'pendingPk'];

function toRow(item: Record<string, unknown>): OciRow {
  const row: Record<string, unknown> = { ...item };
  for (const field of ROW_FIELDS_DROPPED) delete row[field];
  return row as unknown as OciRow;
}

function toCall(item: Record<string, unknown>): Call {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as Call;
}

function toSession(item: Record<string, unknown>): SessionClaim {
  return {
    tenantId: String(item.tenantId),
    sessionId: String(item.sessionId),
    orderId: String(item.orderId),
    conversionId: String(item.conversionId),
    callId: String(item.callId),
  };
}

function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

function decodeCursor(cursor: string | undefined, tenantId: string) {
  if (!cursor) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    // A cursor only ever continues the tenant's own listing.
    if (key.gsi1pk !== keys.listing(tenantId)) throw new InvalidCursorError('foreign cursor');
    return key;
  } catch {
    throw new InvalidCursorError('cursor is not valid');
  }
}

export class DynamoOciStore implements OciStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async createCall(call: Call): Promise<CreateCallResult> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.call(call.tenantId, call.callId), ...call },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { created: true, call };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException && error.Item) {
        return { created: false, existing: toCall(unmarshall(error.Item)) };
      }
      throw error;
    }
  }

  async getCall(tenantId: string, callId: string): Promise<Call | undefined> {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.call(tenantId, callId),
        ConsistentRead: true,
      }),
    );
    return out.Item ? toCall(out.Item) : undefined;
  }

  async createConversion(conversion: Conversion): Promise<CreateConversionResult> {
    const pendingPk = keys.pending(
      conversion.uploadMode,
      conversion.tenantId,
      'conversion',
      conversion.conversionId,
    );
    const session: SessionClaim = {
      tenantId: conversion.tenantId,
      sessionId: conversion.sessionId,
      orderId: conversion.orderId,
      conversionId: conversion.conversionId,
      callId: conversion.callId,
    };
    const sessionKey = keys.session(conversion.tenantId, conversion.orderId);
    return retryOnConflict(async () => {
      const result = await writeAtomically(this.ddb, [
        {
          label: 'session',
          put: {
            table: this.table,
            item: { ...sessionKey, ...session, createdAt: conversion.createdAt },
            condition: 'attribute_not_exists(pk)',
          },
        },
        {
          label: 'conversion',
          put: {
            table: this.table,
            item: {
              ...keys.row(conversion.tenantId, conversion.conversionId, 'conversion'),
              ...conversion,
              gsi1pk: keys.listing(conversion.tenantId),
              gsi1sk: `${conversion.createdAt}#${conversion.conversionId}`,
              pendingPk,
              sweepPk: pendingPk,
              sweepAt: conversion.notBefore,
            },
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
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.session(tenantId, orderId),
        ConsistentRead: true,
      }),
    );
    return out.Item ? toSession(out.Item) : undefined;
  }

  async getRow(ref: RowRef): Promise<OciRow | undefined> {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.row(ref.tenantId, ref.conversionId, ref.kind),
        ConsistentRead: true,
      }),
    );
    return out.Item ? toRow(out.Item) : undefined;
  }

  async pendingCandidates(sweepPk: string, nowIso: string, limit: number): Promise<RowRef[]> {
    return this.querySweep(sweepPk, nowIso, limit);
  }

  private async querySweep(sweepPk: string, nowIso: string, limit: number): Promise<RowRef[]> {
    const refs: RowRef[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: 'sweep',
          KeyConditionExpression: 'sweepPk = :pk AND sweepAt <= :now',
          ExpressionAttributeValues: { ':pk': sweepPk, ':now': nowIso },
          Limit: Math.min(1000, limit - refs.length),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of out.Items ?? []) {
        refs.push({
          tenantId: String(item.tenantId),
          conversionId: String(item.conversionId),
          kind: item.kind === 'adjustment' ? 'adjustment' : 'conversion',
        });
      }
      start = out.LastEvaluatedKey;
    } while (start && refs.length < limit);
    return refs;
  }

  async claim(ref: RowRef, input: ClaimInput): Promise<OciRow | undefined> {
    const nowIso = new Date(input.now).toISOString();
    const update = {
      update:
        'SET #status = :processing, claimId = :claim, claimedAt = :nowIso, leaseExpiresAt = :exp, ' +
        'attempts = if_not_exists(attempts, :zero) + :one, sweepPk = :leased, sweepAt = :expIso',
      condition: '(#status = :queued OR #status = :retry) AND notBefore <= :nowIso',
      names: { '#status': 'status' },
      values: {
        ':processing': 'processing',
        ':queued': 'queued',
        ':retry': 'retry',
        ':claim': input.claimId,
        ':nowIso': nowIso,
        ':exp': input.leaseExpiresAt,
        ':expIso': new Date(input.leaseExpiresAt).toISOString(),
        ':zero': 0,
        ':one': 1,
        ':leased': keys.leased(ref.conversionId),
      },
    };
    const key = keys.row(ref.tenantId, ref.conversionId, ref.kind);
    if (ref.kind === 'conversion') {
      try {
        const out = await this.ddb.send(
          new UpdateCommand({
            TableName: this.table,
            Key: key,
            UpdateExpression: update.update,
            ConditionExpression: update.condition,
            ExpressionAttributeNames: update.names,
            ExpressionAttributeValues: update.values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        return out.Attributes ? toRow(out.Attributes) : undefined;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return undefined;
        throw error;
      }
    }
    // A retraction goes to Google only once Google holds the conversion: the claim checks, in the
    // same transaction, that the conversion is `completed`.
    const result = await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        { label: 'claim', update: { table: this.table, key, ...update } },
        {
          label: 'conversion',
          check: {
            table: this.table,
            key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
            condition: '#status = :completed',
            names: { '#status': 'status' },
            values: { ':completed': 'completed' },
          },
        },
      ]),
    );
    if (!result.ok) {
      if (result.failed === 'conversion' && result.current?.status === 'failed') {
        // Google never counted the conversion: nothing to retract there.
        await this.closeRetraction(ref, nowIso, 'CONVERSION_NEVER_COUNTED');
      }
      return undefined;
    }
    return this.getRow(ref);
  }

  /** A retraction whose conversion Google never counted ends `completed` with nothing sent. */
  private async closeRetraction(ref: RowRef, nowIso: string, note: string): Promise<void> {
    await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        {
          label: 'retraction',
          update: {
            table: this.table,
            key: keys.row(ref.tenantId, ref.conversionId, 'adjustment'),
            update:
              'SET #status = :completed, completedAt = :now, lastError = :note REMOVE sweepPk, sweepAt',
            condition: '#status = :queued OR #status = :retry',
            names: { '#status': 'status' },
            values: {
              ':completed': 'completed',
              ':now': nowIso,
              ':note': note,
              ':queued': 'queued',
              ':retry': 'retry',
            },
          },
        },
        {
          label: 'conversion',
          update: {
            table: this.table,
            key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
            update: 'SET retractedAt = :now',
            condition: 'attribute_not_exists(retractedAt)',
            values: { ':now': nowIso },
          },
        },
      ]),
    );
  }

  private resultUpdate(result: RowResult, nowIso: string) {
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = { ':to': result.to };
    const sets = ['#status = :to'];
    const removes = ['claimId', 'leaseExpiresAt'];
    if (result.to === 'completed') {
      sets.push('completedAt = :now');
      values[':now'] = nowIso;
      if (result.jobId !== undefined) {
        sets.push('jobId = :job');
        values[':job'] = result.jobId;
      }
      removes.push('sweepPk', 'sweepAt');
    } else if (result.to === 'failed') {
      sets.push('lastError = :err');
      values[':err'] = result.error;
      removes.push('sweepPk', 'sweepAt');
    } else {
      sets.push('notBefore = :nb', 'sweepPk = pendingPk', 'sweepAt = :nb');
      values[':nb'] = result.notBefore;
      if (result.error) {
        sets.push('lastError = :err');
        values[':err'] = result.error;
      }
    }
    return {
      update: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      names,
      values,
    };
  }

  /** A completed retraction also stamps the conversion, in the same transaction. */
  private async applyResult(
    ref: RowRef,
    result: RowResult,
    nowIso: string,
    condition: string,
    conditionValues: Record<string, unknown>,
  ): Promise<boolean> {
    const { update, names, values } = this.resultUpdate(result, nowIso);
    const key = keys.row(ref.tenantId, ref.conversionId, ref.kind);
    const write = {
      table: this.table,
      key,
      update,
      condition,
      names,
      values: { ...values, ...conditionValues },
    };
    if (ref.kind === 'adjustment' && result.to === 'completed') {
      const out = await retryOnConflict(() =>
        writeAtomically(this.ddb, [
          { label: 'retraction', update: write },
          {
            label: 'conversion',
            update: {
              table: this.table,
              key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
              update: 'SET retractedAt = if_not_exists(retractedAt, :now)',
              values: { ':now': nowIso },
            },
          },
        ]),
      );
      return out.ok;
    }
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: write.update,
          ConditionExpression: write.condition,
          ExpressionAttributeNames: write.names,
          ExpressionAttributeValues: write.values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  recordResult(ref: RowRef, claimId: string, result: RowResult, nowIso: string): Promise<boolean> {
    return this.applyResult(ref, result, nowIso, '#status = :processing AND claimId = :claim', {
      ':processing': 'processing',
      ':claim': claimId,
    });
  }

  recordAck(ref: RowRef, result: RowResult, nowIso: string): Promise<boolean> {
    // A late ack of a row the stale recovery already moved to `retry` still tells the truth about
    // Google for a final answer; a `retry` answer only moves a row still `processing`.
    const condition =
      result.to === 'retry'
        ? '#status = :processing'
        : '(#status = :processing OR #status = :retry)';
    return this.applyResult(ref, result, nowIso, condition, {
      ':processing': 'processing',
      ...(result.to === 'retry' ? {} : { ':retry': 'retry' }),
    });
  }

  async expiredLeases(nowIso: string, limit: number): Promise<RowRef[]> {
    const refs: RowRef[] = [];
    for (const shard of keys.leasedShards()) {
      if (refs.length >= limit) break;
      refs.push(...(await this.querySweep(shard, nowIso, limit - refs.length)));
    }
    return refs;
  }

  async releaseExpired(ref: RowRef, now: number): Promise<boolean> {
    const nowIso = new Date(now).toISOString();
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.row(ref.tenantId, ref.conversionId, ref.kind),
          UpdateExpression:
            'SET #status = :retry, notBefore = :nowIso, sweepPk = pendingPk, sweepAt = :nowIso, lastError = :err REMOVE claimId, leaseExpiresAt',
          ConditionExpression: '#status = :processing AND leaseExpiresAt <= :now',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':retry': 'retry',
            ':processing': 'processing',
            ':now': now,
            ':nowIso': nowIso,
            ':err': 'LEASE_EXPIRED',
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async withdraw(ref: RowRef, nowIso: string): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
          UpdateExpression:
            'SET #status = :withdrawn, retractRequestedAt = :now, retractedAt = :now REMOVE sweepPk, sweepAt',
          ConditionExpression: '#status = :queued',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':withdrawn': 'withdrawn',
            ':queued': 'queued',
            ':now': nowIso,
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async markRetracted(ref: RowRef, nowIso: string): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.row(ref.tenantId, ref.conversionId, 'conversion'),
          UpdateExpression: 'SET retractRequestedAt = :now, retractedAt = :now',
          ConditionExpression: '#status = :failed AND attribute_not_exists(retractedAt)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':failed': 'failed', ':now': nowIso },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async createRetraction(
    adjustment: Adjustment,
  ): Promise<'created' | 'exists' | 'conversion_changed'> {
    const pendingPk = keys.pending(
      adjustment.uploadMode,
      adjustment.tenantId,
      'adjustment',
      adjustment.conversionId,
    );
    const terminal = adjustment.status === 'failed';
    const result = await retryOnConflict(() =>
      writeAtomically(this.ddb, [
        {
          label: 'retraction',
          put: {
            table: this.table,
            item: {
              ...keys.row(adjustment.tenantId, adjustment.conversionId, 'adjustment'),
              ...adjustment,
              pendingPk,
              ...(terminal ? {} : { sweepPk: pendingPk, sweepAt: adjustment.notBefore }),
            },
            condition: 'attribute_not_exists(pk)',
          },
        },
        {
          label: 'conversion',
          update: {
            table: this.table,
            key: keys.row(adjustment.tenantId, adjustment.conversionId, 'conversion'),
            update: 'SET retractRequestedAt = :now',
            condition: '#status IN (:processing, :retry, :completed)',
            names: { '#status': 'status' },
            values: {
              ':now': adjustment.createdAt,
              ':processing': 'processing',
              ':retry': 'retry',
              ':completed': 'completed',
            },
          },
        },
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
    const start = decodeCursor(cursor, tenantId);
    const out = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ...(status
          ? {
              FilterExpression: '#status = :status',
              ExpressionAttributeNames: { '#status': 'status' },
            }
          : {}),
        ExpressionAttributeValues: {
          ':pk': keys.listing(tenantId),
          ...(status ? { ':status': status } : {}),
        },
        ScanIndexForward: false,
        Limit: 100,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const nextCursor = encodeCursor(out.LastEvaluatedKey);
    return {
      conversions: (out.Items ?? []).map((item) => toRow(item) as Conversion),
      ...(nextCursor ? { nextCursor } : {}),
    };
  }
}
