/**
 * `npx onceflow reconcile counters`: which campaigns to recount. One campaign, a tenant's (its
 * campaign listing partition), or every campaign (a scan of the campaigns table: an operator's full
 * sweep, never a request path), read from the target's own table.
 */
import { type DynamoDBDocumentClient, paginateQuery, paginateScan } from '@aws-sdk/lib-dynamodb';
import { campaignListPartition, campaignMetaScanFilter } from '../../functions/campaigns/index.js';

export interface CampaignRef {
  readonly tenantId: string;
  readonly campaignId: string;
}

export async function* campaignsToRecount(
  ddb: DynamoDBDocumentClient,
  table: string,
  scope: { readonly tenant?: string; readonly campaign?: string },
): AsyncGenerator<CampaignRef> {
  if (scope.tenant && scope.campaign) {
    yield { tenantId: scope.tenant, campaignId: scope.campaign };
    return;
  }
  const pages = scope.tenant
    ? paginateQuery(
        { client: ddb },
        {
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': campaignListPartition(scope.tenant) },
          ConsistentRead: true,
        },
      )
    : paginateScan({ client: ddb }, { TableName: table, ...campaignMetaScanFilter });
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      yield { tenantId: String(item.tenantId), campaignId: String(item.campaignId) };
    }
  }
}
