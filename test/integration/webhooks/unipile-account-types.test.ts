/**
 * `POST /webhooks/unipile` for account types no reply channel routes yet (the SDK's
 * `MessagingAccountTypeSchema` has MESSENGER, TWITTER and SLACK, `accountSourceProviderSchema`
 * MOBILE; Unipile may add more): a legitimate payload is never dropped. It is kept once under its raw
 * id (tenant and `message_id`), counted `unroutable`, and a redelivery is `deduped`, against DynamoDB
 * Local through the real handler.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddb } from '../../../functions/kernel/clients.js';
import { tableName } from '../../../functions/kernel/config.js';
import { keys } from '../../../functions/webhooks/items.js';
import { testSqsClient } from '../../support/emulators.js';
import {
  listedConversations,
  privateJobsQueue,
  type TestTenant,
} from '../conversations/inbound-support.js';
import { freshId, postUnipile, unipilePayload, unipileTenant } from './unipile-support.js';

let sqs: SQSClient;

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
});

afterAll(() => sqs.destroy());

async function rawItem(tenantId: string, messageId: string) {
  const out = await ddb.send(
    new GetCommand({
      TableName: tableName('inbound'),
      Key: keys.unipileRaw(tenantId, messageId),
      ConsistentRead: true,
    }),
  );
  return out.Item;
}

describe('Unipile messages of account types without a channel', () => {
  it.each(['MESSENGER', 'TWITTER', 'MOBILE', 'SLACK', 'SOMETHING_UNIPILE_ADDS'])(
    'a %s message is kept once under its raw id, counted unroutable, never dropped',
    async (accountType) => {
      const t = await unipileTenant();
      const account = t.accountIds[0] as string;
      const messageId = freshId();
      const chatId = freshId();
      const payload = unipilePayload('linkedin-message-received', account, {
        account_type: accountType,
        account_info: { type: accountType, user_id: 'own-user' },
        chat_id: chatId,
        message_id: messageId,
        message: 'Hello from another network',
      });

      const first = await postUnipile(payload, t.webhookToken);
      expect(first.status).toBe(200);
      expect(first.json).toMatchObject({ received: 1, unroutable: 1, stored: 0 });
      expect(await rawItem(t.tenantId, messageId)).toMatchObject({
        tenantId: t.tenantId,
        accountId: account,
        accountType,
        chatId,
        messageId,
        event: 'message_received',
        senderProviderId: 'ACoAANoaPeretzProviderId1',
        body: 'Hello from another network',
      });

      // Unipile retries: the same message is kept once.
      const again = await postUnipile(payload, t.webhookToken);
      expect(again.json).toMatchObject({ received: 1, deduped: 1, unroutable: 0 });
      // Not routed into any conversation (no channel to file it under yet).
      expect(await listedConversations(t as unknown as TestTenant)).toHaveLength(0);
    },
  );

  it('the same message id in two tenants is kept twice, once per tenant', async () => {
    const [a, b] = [await unipileTenant(), await unipileTenant()];
    const messageId = freshId();
    for (const t of [a, b]) {
      const answer = await postUnipile(
        unipilePayload('linkedin-message-received', t.accountIds[0] as string, {
          account_type: 'MESSENGER',
          message_id: messageId,
        }),
        t.webhookToken,
      );
      expect(answer.json).toMatchObject({ unroutable: 1 });
    }
    expect((await rawItem(a.tenantId, messageId))?.tenantId).toBe(a.tenantId);
    expect((await rawItem(b.tenantId, messageId))?.tenantId).toBe(b.tenantId);
  });
});
