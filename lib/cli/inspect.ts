/**
 * `onceflow inspect webhook|recipient|conversion|order ID`: the stored dedupe record or work item,
 * what a support engineer needs when a customer says "I got it twice". Reads only.
 *
 * - `webhook ID`: a message id (`m_…`), or a provider message id with `--tenant`, looked up under
 *   every key a live webhook or the legacy import gives a provider id (Cloud API `wamid.`, WhatsApp
 *   Web key id, GoHighLevel SMS id, a legacy id: `webhookCandidates`); the stored message with its
 *   jobs, or every match when one id is stored under several.
 * - `recipient PHONE --tenant T --campaign C`: the campaign recipient (status, provider message id,
 *   attempts, lease, last error).
 * - `conversion ID` / `order ID`: every item of any table whose `conversionId` / `orderId` is ID
 *   (the OCI and ledger items), found by a filtered scan, for support use.
 */
import { type DynamoDBDocumentClient, GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { campaignKeys } from '../../functions/campaigns/index.js';
import { keys, messageIdFor } from '../../functions/conversations/index.js';
import { toE164 } from '../../functions/kernel/phone.js';
import { MESSAGE_PROVIDERS, messageKeys } from '../../functions/webhooks/index.js';
import { legacyKey } from './import-conversations.js';

export type Item = Record<string, unknown>;

/** The message ids a provider id can be stored under, with the key kind of each. */
export function webhookCandidates(
  id: string,
  tenantId?: string,
): Array<{ provider: string; messageId: string }> {
  if (id.startsWith('m_')) return [{ provider: 'message id', messageId: id }];
  if (!tenantId) throw new Error('a provider message id needs --tenant');
  return [
    ...MESSAGE_PROVIDERS.map((provider) => ({
      provider,
      messageId: messageIdFor(tenantId, messageKeys[provider](id)),
    })),
    { provider: 'other', messageId: messageIdFor(tenantId, legacyKey(id)) },
  ];
}

/** The stored message(s) of an id: one item, or `{matches: [...]}` when several keys hold it. */
export async function inspectWebhook(
  ddb: DynamoDBDocumentClient,
  inboundTable: string,
  id: string,
  tenantId?: string,
): Promise<Item | undefined> {
  const found: Item[] = [];
  for (const candidate of webhookCandidates(id, tenantId)) {
    const out = await ddb.send(
      new GetCommand({
        TableName: inboundTable,
        Key: keys.message(candidate.messageId),
        ConsistentRead: true,
      }),
    );
    if (out.Item) found.push({ storedAs: candidate.provider, ...withoutBody(out.Item) });
  }
  if (found.length === 0) return undefined;
  return found.length === 1 ? found[0] : { matches: found };
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
      Key: campaignKeys.recipient(tenantId, campaignId, e164),
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
