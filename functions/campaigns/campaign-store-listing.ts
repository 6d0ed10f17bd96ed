/**
 * The tenant's campaign listing's adapter: `CL#<tenant> / C#<createdAt>#<campaignId>` items,
 * written in the same transaction as the campaign item itself (`listingPut`), so a campaign exists
 * exactly when it is listed. They are read with strongly consistent queries (never a GSI), so a
 * campaign created a moment ago is already in the first page.
 *
 * One partition per tenant, not sharded: a tenant creates campaigns at human pace (an operator or
 * an integration kicking one off), far below the ~1,000 writes/s one partition takes; nothing else
 * writes these items. A tenant that somehow created campaigns in the thousands per second would
 * need `CL#<tenant>#<n>` shards merged on read; it cannot realistically happen, so it is not built.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AtomicWrite } from '../kernel/atomic.js';
import { keyCursor } from '../kernel/cursor.js';
import { queryCount, queryItems, queryPage } from '../kernel/paginate.js';
import { putOnceWrite } from '../kernel/put-once.js';
import type { CampaignListing } from './campaign-store.js';
import { keys, parseListing, SHARDS } from './items.js';

/** The listing item's put, for the campaign-create transaction. */
export function listingPut(
  table: string,
  tenantId: string,
  campaignId: string,
  createdAt: string,
): AtomicWrite {
  return putOnceWrite('listing', {
    table,
    item: {
      ...keys.listing(tenantId, createdAt, campaignId),
      kind: 'campaign-listing',
      tenantId,
      campaignId,
      createdAt,
    },
  });
}

export class DynamoCampaignListing implements CampaignListing {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async page(
    tenantId: string,
    options: { readonly cursor?: string | undefined; readonly limit: number },
  ): Promise<{ campaignIds: string[]; nextCursor: string | null }> {
    const pk = keys.listingPartition(tenantId);
    // The cursor is pinned to this tenant's partition: another tenant's cursor is a 400.
    const page = await queryPage(
      this.ddb,
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: options.limit,
      },
      options.cursor,
      keyCursor(['pk', 'sk'], { pk }),
    );
    return {
      campaignIds: page.items.map((raw) => parseListing(raw).campaignId),
      nextCursor: page.nextCursor,
    };
  }

  async *campaignsOf(tenantId: string): AsyncIterable<{ tenantId: string; campaignId: string }> {
    const items = queryItems(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.listingPartition(tenantId) },
      ConsistentRead: true,
    });
    for await (const raw of items) yield { tenantId, campaignId: parseListing(raw).campaignId };
  }

  async awaitingEvidence(tenantId: string, campaignId: string, cutoff: string): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: SHARDS }, (_, shard) =>
        queryCount(this.ddb, {
          TableName: this.table,
          IndexName: 'sweep',
          KeyConditionExpression: 'sweepPk = :p',
          FilterExpression:
            '#st = :sending AND sendingSince < :cut AND attribute_not_exists(providerMessageId)',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: {
            ':p': keys.sendingSweep(tenantId, campaignId, shard),
            ':sending': 'sending',
            ':cut': cutoff,
          },
        }),
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }
}
