/**
 * Crash flow of Unipile inbound (issue 23 item 5): a LinkedIn message and a mail of one person,
 * and `PUT /v1/leads` naming that person's LinkedIn id and address. The Unipile webhook adds no
 * failpoint of its own (it files through the common inbound path), so this flow arms the inbound
 * and lead failpoints on the Unipile path: whichever step dies and is retried (Unipile redelivers,
 * the operator repeats the PUT), each message is stored once and the person has one conversation,
 * the lead's, holding every message.
 */
import { randomUUID } from 'node:crypto';
import { messageIdFor } from '../../functions/conversations/store-message.js';
import { messageKeys } from '../../functions/webhooks/index.js';
import { leadCall } from '../integration/conversations/inbound-support.js';
import { postUnipile, unipilePayload } from '../integration/webhooks/unipile-support.js';
import { testTenant } from '../support/test-tenant.js';
import type { CrashFlow } from './flow.js';
import { expectCrash, expectFired, expectInvariants, inWorld, settle } from './inbound.flow.js';

const INBOUND_POINTS = ['inbound.after-message-claimed', 'inbound.after-message-stored'];

const unipileFlow: CrashFlow = {
  name: 'Unipile LinkedIn message and mail, then a lead with linkedin and emails',
  failpoints: [
    ...INBOUND_POINTS,
    'leads.after-lead-saved',
    'conversations.after-rekey',
    'conversations.after-merge-marked',
    'conversations.after-messages-moved',
  ],
  run: (point) =>
    inWorld(async (w) => {
      const { armOnce } = await import('../../functions/kernel/failpoints.js');
      const account = randomUUID().replaceAll('-', '').slice(0, 22);
      const created = await testTenant({
        unipile: { accountIds: [account], dsn: 'api.example.com' },
      });
      const t = { ...w.t, tenantId: created.tenantId, apiKey: created.apiKey };
      const world = { ...w, t };
      const li = unipilePayload('linkedin-message-received', account, {
        message_id: randomUUID(),
        message: 'li 1',
      });
      const rfc = `${randomUUID()}@mail.example.com`;
      const mail = unipilePayload('mail-received', account, {
        email_id: randomUUID(),
        message_id: `<${rfc}>`,
        body_plain: 'mail 1',
      });
      const later = unipilePayload('linkedin-message-received', account, {
        message_id: randomUUID(),
        message: 'li 2',
      });
      const post = (payload: unknown) => postUnipile(payload, created.webhookToken);
      const lead = () =>
        leadCall(t, 'noa', {
          emails: ['noa.peretz@example.com'],
          linkedin: ['ACoAANoaPeretzProviderId1'],
        });
      armOnce(point);
      if (INBOUND_POINTS.includes(point)) {
        await expectCrash(() => post(li));
        await post(li); // Unipile redelivers
        await post(mail);
        await lead();
      } else {
        await post(li);
        await post(mail);
        await expectCrash(lead);
        await lead(); // the operator repeats the PUT
      }
      expectFired(point);
      await post(later);
      const ids = [messageKeys.unipile(String(li.message_id)), messageKeys.unipileMail(rfc)]
        .concat(messageKeys.unipile(String(later.message_id)))
        .map((key) => messageIdFor(created.tenantId, key));
      await settle(world, ids);
      await expectInvariants(world, [{ messageIds: ids, bodies: ['li 1', 'mail 1', 'li 2'] }]);
    }),
};

export default [unipileFlow];
