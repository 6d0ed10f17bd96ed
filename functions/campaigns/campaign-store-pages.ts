/**
 * Recipient pages' adapter: a chunk of new recipients put in one transaction with a check that the
 * campaign is still a draft (uniqueness by E.164 is the conditional put of the recipient item
 * itself: its key derives from the contact; the fold counts each put from its stream record); the
 * listing; the pages fan-out reads; and the completion check.
 */
import type { DynamoDBDocumentClient, QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { type AtomicWrite, conditionCheckWrite, writeAtomically } from '../kernel/atomic.js';
import { decodeCursor, encodeCursor, keyAttribute } from '../kernel/cursor.js';
import { queryItems, queryPageFrom, sendFromCursor } from '../kernel/paginate.js';
import { putOnceWrite } from '../kernel/put-once.js';
import { retryOnConflict } from '../kernel/retry.js';
import * as z from '../kernel/zod.js';
import type {
  InsertResult,
  NewRecipient,
  RecipientPage,
  RecipientPages,
} from './campaign-store.js';
import { keys, type PageMark, parseRecipient, type RecipientItem, SHARDS } from './items.js';
import type { RecipientStatus } from './model.js';

const CAMPAIGN_WRITE = 'campaign';
const PUT_PREFIX = 'put#';

/** The listing's position: the shard and the last key read in it. */
const recipientCursor = z.strictObject({
  s: z.number().check(z.int(), z.gte(0), z.lte(SHARDS - 1)),
  k: z.optional(keyAttribute),
});
type Cursor = z.output<typeof recipientCursor>;

/** How many items one listing request may read before it answers with a cursor. */
const MAX_EVALUATED_PER_REQUEST = 5000;

/** The key of a recipient as stored: a contact's, or a skipped input's. */
function keyOf(recipient: NewRecipient) {
  return recipient.status === 'skipped'
    ? keys.skipped(recipient.tenantId, recipient.campaignId, recipient.phone)
    : keys.recipient(recipient.tenantId, recipient.campaignId, recipient.phone);
}

export class DynamoRecipientPages implements RecipientPages {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async insert(
    tenantId: string,
    campaignId: string,
    recipients: readonly NewRecipient[],
  ): Promise<InsertResult> {
    const writes: AtomicWrite[] = [
      conditionCheckWrite(CAMPAIGN_WRITE, {
        table: this.table,
        key: keys.campaign(tenantId, campaignId),
        conditions: [
          { expression: '#st = :draft', names: { '#st': 'status' }, values: { ':draft': 'draft' } },
        ],
      }),
      ...recipients.map((recipient, index) =>
        putOnceWrite(`${PUT_PREFIX}${index}`, {
          table: this.table,
          item: { ...keyOf(recipient), kind: 'recipient', ...recipient },
        }),
      ),
    ];
    const result = await retryOnConflict(() => writeAtomically(this.ddb, writes));
    if (result.ok) return { inserted: true };
    if (result.failures.some((f) => f.label === CAMPAIGN_WRITE)) {
      return { inserted: false, reason: 'not-draft' };
    }
    const taken = new Map<number, RecipientItem | undefined>();
    for (const failure of result.failures) {
      if (failure.label.startsWith(PUT_PREFIX)) {
        const index = Number(failure.label.slice(PUT_PREFIX.length));
        taken.set(index, failure.current ? parseRecipient(failure.current) : undefined);
      }
    }
    return { inserted: false, reason: 'taken', taken };
  }

  async list(
    tenantId: string,
    campaignId: string,
    options: { status?: RecipientStatus | undefined; cursor?: string | undefined; limit: number },
  ): Promise<RecipientPage> {
    // Bound to this campaign of this tenant and this status filter: any other listing's is a 400.
    const scope = { listing: 'recipients', tenantId, campaignId, status: options.status };
    const from = decodeCursor(options.cursor, recipientCursor, scope);
    let cursor: Cursor | undefined = from ?? { s: 0 };
    const recipients: RecipientItem[] = [];
    let evaluated = 0;
    while (cursor && recipients.length < options.limit && evaluated < MAX_EVALUATED_PER_REQUEST) {
      const pk = keys.recipientPartition(tenantId, campaignId, cursor.s);
      const input: QueryCommandInput = {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ConsistentRead: true,
        Limit: options.limit - recipients.length,
        ...(options.status
          ? {
              FilterExpression: '#st = :st',
              ExpressionAttributeNames: { '#st': 'status' },
              ExpressionAttributeValues: { ':pk': pk, ':st': options.status },
            }
          : { ExpressionAttributeValues: { ':pk': pk } }),
      };
      // From the client's key on the first query (`sendFromCursor` answers a refused one 400), then
      // from where this request's own reads stopped in the shard.
      const start = cursor.k ? { pk, sk: cursor.k } : undefined;
      const out = await sendFromCursor(this.ddb, input, start);
      evaluated += out.ScannedCount ?? 0;
      for (const raw of out.Items ?? []) recipients.push(parseRecipient(raw));
      const last: unknown = out.LastEvaluatedKey?.sk;
      if (typeof last === 'string') cursor = { s: cursor.s, k: last };
      else cursor = cursor.s + 1 < SHARDS ? { s: cursor.s + 1 } : undefined;
    }
    return { recipients, nextCursor: encodeCursor(cursor, scope) };
  }

  async pendingPage(
    tenantId: string,
    campaignId: string,
    shard: number,
    after: string | undefined,
    limit: number,
  ): Promise<{ recipients: RecipientItem[]; last?: string }> {
    const pk = keys.recipientPartition(tenantId, campaignId, shard);
    const page = await queryPageFrom(
      this.ddb,
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ConsistentRead: true,
        Limit: limit,
        FilterExpression: '#st = :pending',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: { ':pk': pk, ':pending': 'pending' },
      },
      after ? { pk, sk: after } : undefined,
    );
    const last: unknown = page.lastKey?.sk;
    return {
      recipients: page.items.map(parseRecipient),
      ...(typeof last === 'string' ? { last } : {}),
    };
  }

  async pendingOfMark(mark: PageMark): Promise<RecipientItem[]> {
    const pk = keys.recipientPartition(mark.tenantId, mark.campaignId, mark.shard);
    const items = queryItems(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: mark.through ? 'pk = :pk AND sk <= :through' : 'pk = :pk',
      FilterExpression: '#st = :pending AND attribute_not_exists(sweepPk)',
      ExpressionAttributeNames: { '#st': 'status' },
      ExpressionAttributeValues: {
        ':pk': pk,
        ':pending': 'pending',
        ...(mark.through ? { ':through': mark.through } : {}),
      },
      ConsistentRead: true,
      ...(mark.after ? { ExclusiveStartKey: { pk, sk: mark.after } } : {}),
    });
    const recipients: RecipientItem[] = [];
    for await (const raw of items) recipients.push(parseRecipient(raw));
    return recipients;
  }

  async anyInFlight(tenantId: string, campaignId: string): Promise<boolean> {
    for (let shard = 0; shard < SHARDS; shard++) {
      const items = queryItems(
        this.ddb,
        {
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: '#st IN (:p, :s)',
          ProjectionExpression: '#st',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: {
            ':pk': keys.recipientPartition(tenantId, campaignId, shard),
            ':p': 'pending',
            ':s': 'sending',
          },
          ConsistentRead: true,
        },
        { maxItems: 1 },
      );
      for await (const _ of items) return true;
    }
    return false;
  }
}
