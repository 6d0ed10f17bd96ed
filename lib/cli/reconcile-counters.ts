/**
 * `npx onceflow reconcile counters`: which campaigns to recount. One campaign, a tenant's (its
 * campaign listing partition), or every campaign (a scan of the campaigns table: an operator's full
 * sweep, never a request path), read from the target's own table through the campaigns' store.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoCampaignStore } from '../../functions/campaigns/index.js';

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
  const store = dynamoCampaignStore(ddb, table);
  const campaigns = scope.tenant ? store.listing.campaignsOf(scope.tenant) : store.campaigns.scan();
  for await (const { tenantId, campaignId } of campaigns) yield { tenantId, campaignId };
}
