/**
 * `onceflow inspect webhook|recipient|conversion|order ID`: the stored dedupe record or work item,
 * what a support engineer needs when a customer says "I got it twice". Reads only.
 *
 * - `webhook ID`: a message id (`m_…`), or a provider message id with `--tenant` (a `wamid.…` as the
 *   Cloud API webhook keys it, else a WhatsApp Web key id); the stored message with its jobs.
 * - `recipient PHONE --tenant T --campaign C`: the campaign recipient (status, provider message id,
 *   attempts, lease, last error).
 * - `conversion ID` / `order ID`: every item of any table whose `conversionId` / `orderId` is ID
 *   (the OCI and ledger items), found by a filtered scan, for support use.
 */
import { type DynamoDBDocumentClient, GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { recipientKey } from '../../functions/campaigns/model.js';
import { keys, messageIdFor } from '../../functions/conversations/index.js';
import { toE164 } from '../../functions/kernel/phone.js';
import { cloudMessageKey, gatewayMessageKey } from '../../functions/webhooks/index.js';

export type Item = Record<string, unknown>;

export function webhookMessageId(id: string, tenantId?: string): string {
  if (id.startsWith('m_')) return id;
  if (!tenantId) throw new Error('a provider message id needs --tenant');
  return messageIdFor(
    tenantId,
    id.startsWith('wamid.') ? cloudMessageKey(id) : gatewayMessageKey(id),
  );
}

export async function inspectWebhook(
  ddb: DynamoDBDocumentClient,
  inboundTable: string,
  id: string,
  tenantId?: string,
): Promise<Item | undefined> {
  const out = await ddb.send(
    new GetCommand({
      TableName: inboundTable,
      Key: keys.message(webhookMessageId(id, tenantId)),
      ConsistentRead: true,
    }),
  );
  return out.Item ? withoutBody(out.Item) : undefined;
}

export async function inspectRecipient(
  ddb: DynamoDBDocumentClient,
  campaignsTable: string,
  phone: string,
  tenantId: string,
  campaignId: string,
): Promise<Item | undefined> {
  const e164 = toE164(phone) ?? phone;
  const out = await ddb.send(
    new GetCommand({
      TableName: campaignsTable,
      Key: recipientKey(tenantId, campaignId, e164),
      ConsistentRead: true,
    }),
  );
  return out.Item;
}

export async function inspectByAttribute(
  ddb: DynamoDBDocumentClient,
  tables: readonly string[],
  attribute: 'conversionId' | 'orderId',
  id: string,
): Promise<Array<{ table: string; item: Item }>> {
  const found: Array<{ table: string; item: Item }> = [];
  for (const table of tables) {
    for await (const page of paginateScan(
      { client: ddb },
      {
        TableName: table,
        FilterExpression: '#a = :id',
        ExpressionAttributeNames: { '#a': attribute },
        ExpressionAttributeValues: { ':id': id },
      },
    )) {
      for (const item of page.Items ?? []) found.push({ table, item });
    }
  }
  return found;
}

/** Message bodies are personal; support needs the record, not the text. */
function withoutBody(item: Item): Item {
  const { body: _body, ...rest } = item;
  return { ...rest, ...(typeof _body === 'string' ? { body: `[${_body.length} chars]` } : {}) };
}
