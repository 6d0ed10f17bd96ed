/**
 * The ledger's store: a port (`LedgerStore`) and its DynamoDB adapter; the items and their keys are
 * declared in `items.ts`. Every once-only effect is one conditional write: starting a stay
 * (`putOnce`, or the guarded bump of `stayNo` with the closed stay's record in one transaction),
 * closing a stay (guarded on the stay number), creating a conversion (`attribute_not_exists`), and
 * marking evidence applied (guarded on `pending`, plus, when no stay held the evidence, a check that
 * the member's stays did not change since they were read).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, writeAtomically } from '../kernel/atomic.js';
import {
  type ConditionalUpdateInput,
  conditionalUpdate,
  conditionalUpdateWrite,
} from '../kernel/conditional-update.js';
import { keyCursor } from '../kernel/cursor.js';
import { type ReadEach, readEach } from '../kernel/item-reader.js';
import { queryAll, queryItems, queryPage } from '../kernel/paginate.js';
import { type Item, putOnce } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import {
  conversionItem,
  evidenceItem,
  keys,
  noStayThroughOf,
  type PendingRef,
  stayItem,
  toClosedStay,
  toConversion,
  toEvidence,
  toMember,
  toPendingRef,
} from './items.js';
import type {
  ClosedStay,
  ConversionItem,
  ConversionSource,
  EvidenceItem,
  MemberItem,
} from './model.js';

export { type PendingRef, SWEEP_SHARDS } from './items.js';

/** How long a fence-only member item (evidence for a user who never joined) is kept. */
export const FENCE_TTL_SECONDS = 24 * 3600;

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
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
  /**
   * Pending evidence received at or before `receivedBy`, from one shard of the sweep index. An
   * entry too malformed to read is handed back as its error (one bad entry never stops the sweep).
   */
  pendingEvidence(
    shard: number,
    receivedBy: string,
    limit: number,
    after?: string,
  ): Promise<ReadEach<PendingRef> & { after: string | undefined }>;
  pendingEvidenceOfTenant(
    tenantId: string,
    receivedBy: string,
    limit: number,
  ): Promise<ReadEach<PendingRef>>;

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

/** A `putOnce` answer as the port states it: created, or the item that was there first. */
function createdOr<T>(
  result: { created: true } | { created: false; existing: Item },
  parse: (item: Item) => T,
): { created: true } | { created: false; existing: T } {
  return result.created ? { created: true } : { created: false, existing: parse(result.existing) };
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
    const item = await readItem(this.ddb, this.table, keys.member(tenantId, queueType, userId));
    return item ? toMember(item) : undefined;
  }

  async createMember(member: MemberItem) {
    // An update, not a put: it also starts the first stay over a fence-only item (evidence applied
    // while the user had never joined), but only after that evidence's time.
    const out = await conditionalUpdate(this.ddb, {
      table: this.table,
      key: keys.member(member.tenantId, member.queueType, member.userId),
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
    const existing = toMember(current);
    if (existing) return { created: false as const, existing };
    return { created: false as const, noStayThrough: String(noStayThroughOf(current)) };
  }

  async startNextStay(
    current: MemberItem,
    next: Pick<MemberItem, 'stayNo' | 'stayId' | 'joinedAt' | 'eventType'>,
  ) {
    if (current.status !== 'out' || current.leftAt === undefined) return false;
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
        key: keys.member(current.tenantId, current.queueType, current.userId),
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
          item: stayItem(closed),
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
      key: keys.member(member.tenantId, member.queueType, member.userId),
      set: { status: 'out', leftAt: end.leftAt, leftReason: end.leftReason, leftBy: end.leftBy },
      conditions: [stayIs(member.stayNo, 'in')],
    });
    return out.applied;
  }

  async pastStays(tenantId: string, queueType: string, userId: string) {
    const stays = keys.stays(tenantId, queueType, userId);
    const items = await queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': stays.pk, ':prefix': stays.skPrefix },
      ConsistentRead: true,
    });
    return items.map(toClosedStay);
  }

  async listMembers(
    tenantId: string,
    queueType: string,
    cursor: string | undefined,
    limit: number,
  ) {
    const { pk, skPrefix } = keys.members(tenantId, queueType);
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        FilterExpression: '#status = :in',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix, ':in': 'in' },
        Limit: limit,
      },
      cursor,
      keyCursor(['pk', 'sk'], { pk }),
    );
    return {
      // Every item under the prefix with a status has a stay (a fence-only item has neither).
      items: page.items.flatMap((item) => toMember(item) ?? []),
      nextCursor: page.nextCursor,
    };
  }

  async putEvidence(evidence: EvidenceItem) {
    const result = await putOnce(this.ddb, { table: this.table, item: evidenceItem(evidence) });
    return createdOr(result, toEvidence);
  }

  async getEvidence(ref: PendingRef) {
    const item = await readItem(this.ddb, this.table, keys.evidence(ref));
    return item ? toEvidence(item) : undefined;
  }

  async evidenceOf(tenantId: string, userId: string, type: string) {
    const { pk, skPrefix } = keys.evidenceOfType(tenantId, userId, type);
    const items = await queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
      ConsistentRead: true,
    });
    return items.map(toEvidence);
  }

  async markEvidenceApplied(
    evidence: EvidenceItem,
    appliedAt: string,
    appliedBy: ConversionSource,
    unchanged: readonly MemberGuard[],
  ): Promise<MarkAppliedResult> {
    const applied: ConditionalUpdateInput = {
      table: this.table,
      key: keys.evidence(evidence),
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
    const memberKey = (guard: MemberGuard) =>
      keys.member(evidence.tenantId, guard.queueType, evidence.userId);
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
    const sweepPk = keys.sweep(shard);
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
    return {
      ...(await readEach(page.items, toPendingRef)),
      after: page.nextCursor ?? undefined,
    };
  }

  async pendingEvidenceOfTenant(tenantId: string, receivedBy: string, limit: number) {
    const items = queryItems(
      this.ddb,
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk <= :by',
        ExpressionAttributeValues: {
          ':pk': keys.pendingOfTenant(tenantId),
          ':by': keys.pendingThrough(receivedBy),
        },
      },
      { pageSize: limit, maxItems: limit },
    );
    return readEach(items, toPendingRef);
  }

  async putConversion(conversion: ConversionItem) {
    const result = await putOnce(this.ddb, { table: this.table, item: conversionItem(conversion) });
    return createdOr(result, toConversion);
  }

  async getConversion(
    tenantId: string,
    userId: string,
    type: string,
    queueType: string,
    stayNo: number,
  ) {
    const item = await readItem(
      this.ddb,
      this.table,
      keys.conversion(tenantId, userId, type, queueType, stayNo),
    );
    return item ? toConversion(item) : undefined;
  }

  async conversionsOfUser(
    tenantId: string,
    userId: string,
    filter: ConversionFilter,
    cursor: string | undefined,
    limit: number,
  ) {
    const { pk, skPrefix } = keys.conversionsOfUser(tenantId, userId, filter.type);
    const bySource = filter.source !== undefined;
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': pk,
          ':prefix': skPrefix,
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
      items: page.items.map(toConversion),
      nextCursor: page.nextCursor,
    };
  }

  async conversionsOfTenant(
    tenantId: string,
    filter: ConversionFilter,
    cursor: string | undefined,
    limit: number,
  ) {
    const gsi1pk = keys.conversionsOfTenant(tenantId);
    const filters: string[] = [];
    const names: Record<string, string> = {};
    const values: Item = { ':pk': gsi1pk };
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
      items: page.items.map(toConversion),
      nextCursor: page.nextCursor,
    };
  }
}
