/**
 * Races on the inbound side against the real DynamoDB Local (issue 7 items 1, 2 and 14): concurrent
 * lead PUTs with the same phones in opposite orders, a lead PUT racing the `lead_match` job of a
 * first message, a bare `@lid` message racing a phone + same-`@lid` message, and concurrent deliveries
 * of one provider message (with or without a crashed delivery's claim). After every trial:
 * each person has exactly one listed conversation, holding all of its messages, and a next inbound
 * message of each phone stores (200) into that conversation.
 */
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobDeps } from '../../../functions/conversations/deps.js';
import { messageIdFor } from '../../../functions/conversations/store-message.js';
import { runJobs } from '../../../functions/jobs/index.js';
import {
  armOnce,
  clearFailpoints,
  FailpointCrashError,
} from '../../../functions/kernel/failpoints.js';
import { testSqsClient } from '../../support/emulators.js';
import { raceTrials } from '../../support/race.js';
import {
  createTenant,
  leadCall,
  listedConversations,
  privateJobsQueue,
  sendCloud,
  sendWeb,
  type TestTenant,
  threadOf,
} from './inbound-support.js';

let sqs: SQSClient;

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
});

afterAll(() => sqs.destroy());

/** Exactly one listed conversation, holding exactly `bodies` (as listed by the messages API). */
async function expectOnePerson(t: TestTenant, bodies: readonly string[]) {
  const listed = await listedConversations(t);
  expect(listed.map((c) => c.messageCount)).toEqual([bodies.length]);
  const thread = await threadOf(t, listed[0]?.conversationId as string);
  expect(thread.sort()).toEqual([...bodies].sort());
  return listed[0]?.conversationId as string;
}

const phoneOf = (n: number) => `97250${String(n).padStart(7, '0')}`;

describe('concurrent lead merges (issue 7.1)', () => {
  it('two PUTs of a new lead with the same phones in opposite orders → one conversation, later messages store', async () => {
    let n = 2_000_000 + Math.floor(Math.random() * 1_000_000) * 2;
    await raceTrials({
      trials: 12,
      setup: async () => {
        const t = await createTenant();
        const a = phoneOf(n++);
        const b = phoneOf(n++);
        await sendCloud(t, a, 'from a');
        await sendCloud(t, b, 'from b');
        return { t, a, b };
      },
      contenders: ({ t, a, b }) => [
        () => leadCall(t, 'lead-1', { phones: [`+${a}`, `+${b}`] }),
        () => leadCall(t, 'lead-1', { phones: [`+${b}`, `+${a}`] }),
      ],
      check: async ({ t, a, b }, outcomes) => {
        for (const o of outcomes) {
          expect(o.status).toBe('fulfilled');
          expect((o as PromiseFulfilledResult<{ status: number }>).value.status).toBe(200);
        }
        const id = await expectOnePerson(t, ['from a', 'from b']);
        expect((await sendCloud(t, a, 'next a')).status).toBe(200);
        expect((await sendCloud(t, b, 'next b')).status).toBe(200);
        expect(await expectOnePerson(t, ['from a', 'from b', 'next a', 'next b'])).toBe(id);
      },
    });
  });

  it('a lead PUT racing the lead_match job of a first message → one conversation, later messages store', async () => {
    let n = 5_000_000 + Math.floor(Math.random() * 1_000_000) * 2;
    await raceTrials({
      trials: 20,
      maxStaggerMs: 40,
      setup: async () => {
        const t = await createTenant();
        const a = phoneOf(n++);
        const b = phoneOf(n++);
        // Both phones wrote first. A PUT of the lead with both phones saved the lead and its phone
        // index, then died before attaching; its retry races a's lead_match, which now sees the lead.
        await sendCloud(t, b, 'from b');
        const wamid = `wamid.${randomUUID()}`;
        await sendCloud(t, a, 'from a', wamid);
        armOnce('leads.after-lead-saved');
        await expect(leadCall(t, 'lead-2', { phones: [`+${b}`, `+${a}`] })).rejects.toBeInstanceOf(
          FailpointCrashError,
        );
        clearFailpoints();
        return { t, a, b, messageId: messageIdFor(t.tenantId, `wamid:${wamid}`) };
      },
      contenders: ({ t, a, b, messageId }) => [
        () => leadCall(t, 'lead-2', { phones: [`+${b}`, `+${a}`] }),
        () => runJobs(jobDeps(), { tenantId: t.tenantId, messageId, jobTypes: ['lead_match'] }),
      ],
      check: async ({ t, a, b }, outcomes) => {
        for (const o of outcomes) expect(o.status).toBe('fulfilled');
        const id = await expectOnePerson(t, ['from a', 'from b']);
        expect((await sendCloud(t, a, 'next a')).status).toBe(200);
        expect((await sendCloud(t, b, 'next b')).status).toBe(200);
        expect(await expectOnePerson(t, ['from a', 'from b', 'next a', 'next b'])).toBe(id);
      },
    });
  }, 120_000); // 8 trials of a PUT racing a job, each a few round trips: a loaded CI machine (every project at once) took over 30 s
});

describe('one message per provider id, decided after the claim-first write', () => {
  it('concurrent deliveries of one wamid, half of the trials over a claim a crashed delivery left → stored once, counted once', async () => {
    let n = 8_000_000 + Math.floor(Math.random() * 1_000_000);
    let trial = 0;
    await raceTrials({
      trials: 16,
      maxStaggerMs: 10,
      setup: async () => {
        const t = await createTenant();
        const from = phoneOf(n++);
        const wamid = `wamid.${randomUUID()}`;
        // Every other trial: a first delivery claimed the message and died before filing it.
        if (trial++ % 2 === 1) {
          armOnce('inbound.after-message-claimed');
          await expect(sendCloud(t, from, 'hello', wamid)).rejects.toBeInstanceOf(
            FailpointCrashError,
          );
          clearFailpoints();
        }
        return { t, from, wamid };
      },
      contenders: ({ t, from, wamid }) =>
        Array.from({ length: 4 }, () => () => sendCloud(t, from, 'hello', wamid)),
      check: async ({ t }, outcomes) => {
        const answers = outcomes.map((o) => {
          expect(o.status).toBe('fulfilled');
          const value = (o as PromiseFulfilledResult<{ status: number; json: { stored: number } }>)
            .value;
          expect(value.status).toBe(200);
          return value.json.stored;
        });
        // Exactly one delivery filed it; every other one was told it was a duplicate.
        expect(answers.sort()).toEqual([0, 0, 0, 1]);
        await expectOnePerson(t, ['hello']);
      },
    });
  });
});

describe('first contact under two identifiers at once (issue 7.2)', () => {
  it('a bare @lid and a phone + same @lid message together → one conversation, whichever lands first', async () => {
    let n = 7_000_000 + Math.floor(Math.random() * 1_000_000);
    await raceTrials({
      trials: 16,
      maxStaggerMs: 10,
      setup: async () => {
        const t = await createTenant();
        return { t, phone: phoneOf(n++), lid: `${Date.now()}${n}@lid` };
      },
      contenders: ({ t, phone, lid }) => [
        () => sendWeb(t, { remoteJid: lid, id: `A-${randomUUID()}` }, 'bare lid'),
        () =>
          sendWeb(
            t,
            { remoteJid: lid, remoteJidAlt: `${phone}@s.whatsapp.net`, id: `B-${randomUUID()}` },
            'lid and phone',
          ),
      ],
      check: async ({ t, phone }, outcomes) => {
        for (const o of outcomes) {
          expect(o.status).toBe('fulfilled');
          expect((o as PromiseFulfilledResult<{ status: number }>).value.status).toBe(200);
        }
        await expectOnePerson(t, ['bare lid', 'lid and phone']);
        expect((await sendCloud(t, phone, 'next')).status).toBe(200);
        await expectOnePerson(t, ['bare lid', 'lid and phone', 'next']);
      },
    });
  });
});

describe('a person split by a reply (issue 7.14)', () => {
  it('a bare @lid message, then the business’s reply carrying the @lid and the phone → one conversation, no job needed', async () => {
    const t = await createTenant();
    const phone = phoneOf(8_000_000 + Math.floor(Math.random() * 1_000_000));
    const lid = `${Date.now()}91@lid`;
    expect((await sendWeb(t, { remoteJid: lid, id: `C-${randomUUID()}` }, 'hello?')).status).toBe(
      200,
    );
    const reply = await sendWeb(
      t,
      {
        remoteJid: `${phone}@s.whatsapp.net`,
        remoteJidAlt: lid,
        fromMe: true,
        id: `D-${randomUUID()}`,
      },
      'hi, how can we help?',
    );
    expect(reply.status).toBe(200);
    await expectOnePerson(t, ['hello?', 'hi, how can we help?']);
    // And the other direction: the phone first, then a reply linking a new alias that holds messages.
    const lid2 = `${Date.now()}92@lid`;
    await sendWeb(t, { remoteJid: lid2, id: `E-${randomUUID()}` }, 'again under a new alias');
    await sendWeb(
      t,
      {
        remoteJid: lid2,
        remoteJidAlt: `${phone}@s.whatsapp.net`,
        fromMe: true,
        id: `F-${randomUUID()}`,
      },
      'reply',
    );
    await expectOnePerson(t, [
      'hello?',
      'hi, how can we help?',
      'again under a new alias',
      'reply',
    ]);
  });
});
