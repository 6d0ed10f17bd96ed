/**
 * The ledger's store: a port (`LedgerStore`) and its DynamoDB adapter. Keys are built and parsed
 * here only. Every once-only effect is one conditional write: starting a stay (`putOnce`, or the
 * guarded bump of `stayNo` with the closed stay's record in one transaction), closing a stay
 * (guarded on the stay number), creating a conversion (`attribute_not_exists`), and marking
 * evidence applied (guarded on `pending`, plus, when no stay held the evidence, a check that the
 * member's stays did not change since they were read).
 *
 * Layout of the `ledger` table:
 * - `LQ#<tenant>#<queue> / U#<user>`: the member item (latest stay).
 * - `LQ#<tenant>#<queue> / S#<user>#<stayNo, 10 digits>`: a closed past stay.
 * - `LU#<tenant>#<user> / E#<type>#<evidenceId>`: evidence. While pending: `sweepPk`
 *   (`LEDGER#<shard>`) / `sweepAt` (received at), and `gsi1pk` (`LPE#<tenant>`) / `gsi1sk`.
 * - `LU#<tenant>#<user> / C#<type>#<queue>#<stayNo>`: a conversion; `gsi1pk` `LCV#<tenant>` /
 *   `gsi1sk` `<loggedAt>#<conversionId>` lists a tenant's conversions.
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import {
  type ConditionalUpdateInput,
  conditionalUpdate,
  conditionalUpdateWrite,
} from '../kernel/conditional-update.js';
import { keyCursor } from '../kernel/cursor.js';
import { queryAll, queryPage } from '../kernel/paginate.js';
import { putOnce } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import { sha256Hex } from '../kernel/secrets.js';
import type {
  ClosedStay,
  ConversionItem,
  ConversionSource,
  EvidenceItem,
  MemberItem,
} from './model.js';

/** How long a fence-only member item (evidence for a user who never joined) is kept. */
export const FENCE_TTL_SECONDS = 24 * 3600;

/** Shards of the sweep index, so no schedule query reads one hot partition. */
export const SWEEP_SHARDS = 8;

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

export interface PendingRef {
  readonly tenantId: string;
  readonly userId: string;
  readonly type: string;
  readonly evidenceId: string;
}

/**
 * A member whose stays must not have changed when evidence is marked applied with no stay, and on
 * which that decision is recorded (`noStayThrough`), in the same transaction.
 */
export interface MemberGuard {
  readonly queueType: string;
  /** The stay number read; 0 when the user never joined. */
  readonly stayNo: number;
}

export type MarkAppliedResult = 'applied' | 'already_applied' | 'member_changed';

export interface ConversionFilter {
  readonly type?: string | undefined;
  readonly source?: ConversionSource | undefined;
}

export interface LedgerStore {
  /** The member (undefined when the user never joined, even if evidence fenced its first stay). */
  getMember(tenantId: string, queueType: string, userId: string): Promise<MemberItem | undefined>;
  /**
   * Creates the member with its first stay, unless it exists (then returns it) or evidence decided
   * to fall in no stay at or after `joinedAt` (then returns that time, `noStayThrough`).
   */
  createMember(
    member: MemberItem,
  ): Promise<
    | { created: true }
    | { created: false; existing: MemberItem }
    | { created: false; noStayThrough: string }
  >;
  /**
   * Starts the next stay of a member that is out, recording its closed stay; false if it moved
   * (another stay, or evidence decided to fall in no stay at or after `next.joinedAt`).
   */
  startNextStay(
    current: MemberItem,
    next: Pick<MemberItem, 'stayNo' | 'stayId' | 'joinedAt' | 'eventType'>,
  ): Promise<boolean>;
  /** Ends the member's stay `stayNo` if it is still open; false if it moved. */
  closeStay(
    member: MemberItem,
    end: { leftAt: string; leftReason: string; leftBy: string },
  ): Promise<boolean>;
  pastStays(tenantId: string, queueType: string, userId: string): Promise<ClosedStay[]>;
  listMembers(
    tenantId: string,
    queueType: string,
    cursor: string | undefined,
    limit: number,
  ): Promise<Page<MemberItem>>;

  putEvidence(
    evidence: EvidenceItem,
  ): Promise<{ created: true } | { created: false; existing: EvidenceItem }>;
  getEvidence(ref: PendingRef): Promise<EvidenceItem | undefined>;
  evidenceOf(tenantId: string, userId: string, type: string): Promise<EvidenceItem[]>;
  markEvidenceApplied(
    evidence: EvidenceItem,
    appliedAt: string,
    appliedBy: ConversionSource,
    unchanged: readonly MemberGuard[],
  ): Promise<MarkAppliedResult>;
  /** Pending evidence received at or before `receivedBy`, from one shard of the sweep index. */
  pendingEvidence(
    shard: number,
    receivedBy: string,
    limit: number,
    after?: string,
  ): Promise<{ refs: PendingRef[]; after: string | undefined }>;
  pendingEvidenceOfTenant(
    tenantId: string,
    receivedBy: string,
    limit: number,
  ): Promise<PendingRef[]>;

  putConversion(
    conversion: ConversionItem,
  ): Promise<{ created: true } | { created: false; existing: ConversionItem }>;
  getConversion(
    tenantId: string,
    userId: string,
    type: string,
    queueType: string,
    stayNo: number,
  ): Promise<ConversionItem | undefined>;
  conversionsOfUser(
    tenantId: string,
    userId: string,
    filter: ConversionFilter,
    cursor: string | undefined,
    limit: number,
  ): Promise<Page<ConversionItem>>;
  conversionsOfTenant(
    tenantId: string,
    filter: ConversionFilter,
    cursor: string | undefined,
    limit: number,
  ): Promise<Page<ConversionItem>>;
}

// --- keys ------------------------------------------------------------------------------------------

const queuePk = (tenantId: string, queueType: string) => `LQ#${tenantId}#${queueType}`;
const userPk = (tenantId: string, userId: string) => `LU#${tenantId}#${userId}`;
const memberSk = (userId: string) => `U#${userId}`;
const stayPrefix = (userId: string) => `S#${userId}#`;
const staySk = (userId: string, stayNo: number) =>
  `${stayPrefix(userId)}${String(stayNo).padStart(10, '0')}`;
const evidenceSk = (type: string, evidenceId: string) => `E#${type}#${evidenceId}`;
const conversionSk = (type: string, queueType: string, stayNo: number) =>
  `C#${type}#${queueType}#${String(stayNo).padStart(10, '0')}`;
const pendingGsi1 = (tenantId: string) => `LPE#${tenantId}`;
const conversionGsi1 = (tenantId: string) => `LCV#${tenantId}`;

export function sweepShardOf(ref: PendingRef): number {
  const hex = sha256Hex(`${ref.tenantId}#${ref.userId}#${ref.type}#${ref.evidenceId}`).slice(0, 8);
  return Number.parseInt(hex, 16) % SWEEP_SHARDS;
}

const KEY_ATTRS = ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'sweepPk', 'sweepAt', 'expiresAt'];

function strip<T>(item: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) if (!KEY_ATTRS.includes(k)) out[k] = v;
  return out as T;
}

/** A `putOnce` answer as the port states it: created, or the item that was there first. */
function createdOr<T>(
  result: { created: true } | { created: false; existing: Record<string, unknown> },
): { created: true } | { created: false; existing: T } {
  return result.created
    ? { created: true }
    : { created: false, existing: strip<T>(result.existing) };
}

/** A member's stay `stayNo` with this status: the guard of every stay transition. */
function stayIs(stayNo: number, status: MemberItem['status']) {
  return {
    expression: 'stayNo = :stayNo AND #status = :status',
    names: { '#status': 'status' },
    values: { ':stayNo': stayNo, ':status': status },
  };
}

/**
 * A stay starting at `joinedAt` holds no evidence already decided to fall in no stay: every such
 * decision raised the member's `noStayThrough` in the write that applied the evidence.
 */
function startsAfterFence(joinedAt: string) {
  return {
    expression: '(attribute_not_exists(noStayThrough) OR noStayThrough < :joinedAt)',
    values: { ':joinedAt': joinedAt },
  };
}

/** The member's stays as the no-stay decision read them: the same latest stay, or still none. */
function staysUnchanged(guard: MemberGuard) {
  return guard.stayNo === 0
    ? { expression: 'attribute_not_exists(stayNo)' }
    : { expression: 'stayNo = :stayNo', values: { ':stayNo': guard.stayNo } };
}

// --- the DynamoDB adapter --------------------------------------------------------------------------

export class DynamoDbLedgerStore implements LedgerStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async getMember(tenantId: string, queueType: string, userId: string) {
    const item = await readItem(this.ddb, this.table, {
      pk: queuePk(tenantId, queueType),
      sk: memberSk(userId),
    });
    return item && typeof item.stayNo === 'number' ? strip<MemberItem>(item) : undefined;
  }

  async createMember(member: MemberItem) {
    // An update, not a put: it also starts the first stay over a fence-only item (evidence applied
    // while the user had never joined), but only after that evidence's time.
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: { pk: queuePk(member.tenantId, member.queueType), sk: memberSk(member.userId) },
      set: { ...member },
      // A fence-only item expires (below); a member never does.
      remove: ['expiresAt'],
      conditions: [
        { expression: 'attribute_not_exists(stayNo)' },
        startsAfterFence(member.joinedAt),
      ],
    });
    if (out.applied) return { created: true as const };
    const current = out.current ?? {};
    if (typeof current.stayNo === 'number') {
      return { created: false as const, existing: strip<MemberItem>(current) };
    }
    return { created: false as const, noStayThrough: String(current.noStayThrough) };
  }

  async startNextStay(
    current: MemberItem,
    next: Pick<MemberItem, 'stayNo' | 'stayId' | 'joinedAt' | 'eventType'>,
  ) {
    if (current.status !== 'out' || current.leftAt === undefined) return false;
    const pk = queuePk(current.tenantId, current.queueType);
    const closed: ClosedStay = {
      tenantId: current.tenantId,
      queueType: current.queueType,
      userId: current.userId,
      eventType: current.eventType,
      stayNo: current.stayNo,
      stayId: current.stayId,
      joinedAt: current.joinedAt,
      leftAt: current.leftAt,
      ...(current.leftReason !== undefined ? { leftReason: current.leftReason } : {}),
      ...(current.leftBy !== undefined ? { leftBy: current.leftBy } : {}),
    };
    const writes: AtomicWrite[] = [
      conditionalUpdateWrite('member', {
        table: this.table,
        key: { pk, sk: memberSk(current.userId) },
        set: {
          stayNo: next.stayNo,
          stayId: next.stayId,
          status: 'in',
          joinedAt: next.joinedAt,
          eventType: next.eventType,
        },
        remove: ['leftAt', 'leftReason', 'leftBy'],
        conditions: [stayIs(current.stayNo, 'out'), startsAfterFence(next.joinedAt)],
      }),
      {
        label: 'stay',
        put: {
          table: this.table,
          item: { pk, sk: staySk(current.userId, current.stayNo), ...closed },
          condition: 'attribute_not_exists(pk)',
        },
      },
    ];
    const result = await writeAtomically(this.ddb, writes);
    return result.ok;
  }

  async closeStay(member: MemberItem, end: { leftAt: string; leftReason: string; leftBy: string }) {
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: { pk: queuePk(member.tenantId, member.queueType), sk: memberSk(member.userId) },
      set: { status: 'out', leftAt: end.leftAt, leftReason: end.leftReason, leftBy: end.leftBy },
      conditions: [stayIs(member.stayNo, 'in')],
    });
    return out.applied;
  }

  async pastStays(tenantId: string, queueType: string, userId: string) {
    const items = await queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: {
        ':pk': queuePk(tenantId, queueType),
        ':prefix': stayPrefix(userId),
      },
      ConsistentRead: true,
    });
    return items.map((item) => strip<ClosedStay>(item));
  }

  async listMembers(
    tenantId: string,
    queueType: string,
    cursor: string | undefined,
    limit: number,
  ) {
    const pk = queuePk(tenantId, queueType);
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        FilterExpression: '#status = :in',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pk': pk, ':prefix': 'U#', ':in': 'in' },
        Limit: limit,
      },
      cursor,
      keyCursor(['pk', 'sk'], { pk }),
    );
    return {
      items: page.items.map((item) => strip<MemberItem>(item)),
      nextCursor: page.nextCursor,
    };
  }

  async putEvidence(evidence: EvidenceItem) {
    const ref: PendingRef = evidence;
    const result = await putOnce(this.ddb, {
      table: this.table,
      item: {
        pk: userPk(evidence.tenantId, evidence.userId),
        sk: evidenceSk(evidence.type, evidence.evidenceId),
        ...evidence,
        ...(evidence.state === 'pending'
          ? {
              sweepPk: `LEDGER#${sweepShardOf(ref)}`,
              sweepAt: evidence.receivedAt,
              gsi1pk: pendingGsi1(evidence.tenantId),
              gsi1sk: `${evidence.receivedAt}#${evidence.userId}#${evidence.type}#${evidence.evidenceId}`,
            }
          : {}),
      },
    });
    return createdOr<EvidenceItem>(result);
  }

  async getEvidence(ref: PendingRef) {
    const item = await readItem(this.ddb, this.table, {
      pk: userPk(ref.tenantId, ref.userId),
      sk: evidenceSk(ref.type, ref.evidenceId),
    });
    return item ? strip<EvidenceItem>(item) : undefined;
  }

  async evidenceOf(tenantId: string, userId: string, type: string) {
    const items = await queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': userPk(tenantId, userId), ':prefix': `E#${type}#` },
      ConsistentRead: true,
    });
    return items.map((item) => strip<EvidenceItem>(item));
  }

  async markEvidenceApplied(
    evidence: EvidenceItem,
    appliedAt: string,
    appliedBy: ConversionSource,
    unchanged: readonly MemberGuard[],
  ): Promise<MarkAppliedResult> {
    const applied: ConditionalUpdateInput = {
      table: this.table,
      key: {
        pk: userPk(evidence.tenantId, evidence.userId),
        sk: evidenceSk(evidence.type, evidence.evidenceId),
      },
      set: { state: 'applied', appliedAt, appliedBy },
      remove: ['sweepPk', 'sweepAt', 'gsi1pk', 'gsi1sk'],
      conditions: [
        {
          expression: '#state = :pending',
          names: { '#state': 'state' },
          values: { ':pending': 'pending' },
        },
      ],
    };
    if (unchanged.length === 0) {
      // One item: a plain conditional update costs half a transaction.
      return (await conditionalUpdate(this.ddb, applied)).applied ? 'applied' : 'already_applied';
    }
    // Each member's stays must be as read, and the decision is recorded on it (`noStayThrough`
    // raised to the evidence time), so a join that read the clock before this commit and writes
    // after it is refused and starts its stay later. A member already fenced past the evidence time
    // is only checked (the fence never moves back).
    const at = evidence.effectiveAt;
    const memberKey = (guard: MemberGuard) => ({
      pk: queuePk(evidence.tenantId, guard.queueType),
      sk: memberSk(evidence.userId),
    });
    const fence = (guard: MemberGuard): AtomicWrite =>
      conditionalUpdateWrite(`member:${guard.queueType}`, {
        table: this.table,
        key: memberKey(guard),
        set: {
          noStayThrough: at,
          // A user who never joined gets a fence-only item. It only has to outlive a join that
          // read its clock before this write and lands after it (a handler's lifetime, ≤ 15 min):
          // any later join reads a clock past `at` anyway. DynamoDB's TTL deletes it after a day.
          ...(guard.stayNo === 0
            ? { expiresAt: Math.floor(Date.parse(appliedAt) / 1000) + FENCE_TTL_SECONDS }
            : {}),
        },
        conditions: [
          staysUnchanged(guard),
          {
            expression: '(attribute_not_exists(noStayThrough) OR noStayThrough <= :at)',
            values: { ':at': at },
          },
        ],
      });
    const alreadyFenced = (guard: MemberGuard): AtomicWrite => {
      const unchanged = staysUnchanged(guard);
      return {
        label: `member:${guard.queueType}`,
        check: {
          table: this.table,
          key: memberKey(guard),
          condition: `${unchanged.expression} AND noStayThrough >= :at`,
          values: { ...unchanged.values, ':at': at },
        },
      };
    };
    let fencedAlready = new Set<string>();
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await writeAtomically(this.ddb, [
        conditionalUpdateWrite('evidence', applied),
        ...unchanged.map((guard) =>
          fencedAlready.has(guard.queueType) ? alreadyFenced(guard) : fence(guard),
        ),
      ]);
      if (result.ok) return 'applied';
      if (result.failures.some((f) => f.label === 'evidence')) return 'already_applied';
      // A member whose stays are as read but whose fence is already past the evidence: check it.
      const past = new Set<string>();
      for (const guard of unchanged) {
        const failed = result.failures.find((f) => f.label === `member:${guard.queueType}`);
        if (!failed) continue;
        const current = failed.current ?? {};
        const sameStays =
          guard.stayNo === 0 ? current.stayNo === undefined : current.stayNo === guard.stayNo;
        if (!sameStays || !(String(current.noStayThrough ?? '') > at)) return 'member_changed';
        past.add(guard.queueType);
      }
      fencedAlready = new Set([...fencedAlready, ...past]);
    }
    return 'member_changed';
  }

  async pendingEvidence(shard: number, receivedBy: string, limit: number, after?: string) {
    const sweepPk = `LEDGER#${shard}`;
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'sweep',
        KeyConditionExpression: 'sweepPk = :pk AND sweepAt <= :by',
        ExpressionAttributeValues: { ':pk': sweepPk, ':by': receivedBy },
        Limit: limit,
      },
      after,
      keyCursor(['pk', 'sk', 'sweepPk', 'sweepAt'], { sweepPk }),
    );
    return { refs: page.items.map(toRef), after: page.nextCursor ?? undefined };
  }

  async pendingEvidenceOfTenant(tenantId: string, receivedBy: string, limit: number) {
    const out = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk <= :by',
        ExpressionAttributeValues: { ':pk': pendingGsi1(tenantId), ':by': `${receivedBy}#\uffff` },
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map(toRef);
  }

  async putConversion(conversion: ConversionItem) {
    const result = await putOnce(this.ddb, {
      table: this.table,
      item: {
        pk: userPk(conversion.tenantId, conversion.userId),
        sk: conversionSk(conversion.type, conversion.queueType, conversion.stayNo),
        gsi1pk: conversionGsi1(conversion.tenantId),
        gsi1sk: `${conversion.loggedAt}#${conversion.conversionId}`,
        ...conversion,
      },
    });
    return createdOr<ConversionItem>(result);
  }

  async getConversion(
    tenantId: string,
    userId: string,
    type: string,
    queueType: string,
    stayNo: number,
  ) {
    const item = await readItem(this.ddb, this.table, {
      pk: userPk(tenantId, userId),
      sk: conversionSk(type, queueType, stayNo),
    });
    return item ? strip<ConversionItem>(item) : undefined;
  }

  async conversionsOfUser(
    tenantId: string,
    userId: string,
    filter: ConversionFilter,
    cursor: string | undefined,
    limit: number,
  ) {
    const pk = userPk(tenantId, userId);
    const bySource = filter.source !== undefined;
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': pk,
          ':prefix': filter.type !== undefined ? `C#${filter.type}#` : 'C#',
          ...(bySource ? { ':source': filter.source } : {}),
        },
        ...(bySource
          ? {
              FilterExpression: '#source = :source',
              ExpressionAttributeNames: { '#source': 'source' },
            }
          : {}),
        ConsistentRead: true,
        Limit: limit,
      },
      cursor,
      keyCursor(['pk', 'sk'], { pk }),
    );
    return {
      items: page.items.map((item) => strip<ConversionItem>(item)),
      nextCursor: page.nextCursor,
    };
  }

  async conversionsOfTenant(
    tenantId: string,
    filter: ConversionFilter,
    cursor: string | undefined,
    limit: number,
  ) {
    const gsi1pk = conversionGsi1(tenantId);
    const filters: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':pk': gsi1pk };
    if (filter.type !== undefined) {
      filters.push('#type = :type');
      names['#type'] = 'type';
      values[':type'] = filter.type;
    }
    if (filter.source !== undefined) {
      filters.push('#source = :source');
      names['#source'] = 'source';
      values[':source'] = filter.source;
    }
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: values,
        ...(filters.length > 0
          ? { FilterExpression: filters.join(' AND '), ExpressionAttributeNames: names }
          : {}),
        Limit: limit,
      },
      cursor,
      keyCursor(['pk', 'sk', 'gsi1pk', 'gsi1sk'], { gsi1pk }),
    );
    return {
      items: page.items.map((item) => strip<ConversionItem>(item)),
      nextCursor: page.nextCursor,
    };
  }
}

function toRef(item: Record<string, unknown>): PendingRef {
  return {
    tenantId: String(item.tenantId),
    userId: String(item.userId),
    type: String(item.type),
    evidenceId: String(item.evidenceId),
  };
}
