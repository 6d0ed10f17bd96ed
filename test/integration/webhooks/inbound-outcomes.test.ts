/**
 * What every webhook item became, and what the answer says (issue 7 items 13 and 17): GHL texts
 * without a mapped message time are deduplicated only within a window; an unparseable sender is
 * `invalid`, counted and logged; an unknown GHL location is the same 401 as a wrong token (issue 26.11);
 * a repeated status answers `deduped`; refused requests leave a log line without the secret.
 */
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { advanceSystemClock } from '../../../functions/kernel/clock.js';
import { logger } from '../../../functions/kernel/telemetry.js';
import { DEFAULT_GHL_DEDUPE_WINDOW_SECONDS } from '../../../functions/webhooks/deps.js';
import { handler as ghl } from '../../../functions/webhooks/handlers/receive-ghl-sms.js';
import { handler as whatsapp } from '../../../functions/webhooks/handlers/receive-whatsapp.js';
import { testSqsClient } from '../../support/emulators.js';
import {
  cloudCall,
  cloudText,
  createTenant,
  ghlPayload,
  invoke,
  listedConversations,
  privateJobsQueue,
  tokenCall,
} from '../conversations/inbound-support.js';

let sqs: SQSClient;

beforeAll(async () => {
  sqs = testSqsClient();
  await privateJobsQueue(sqs);
});

afterAll(() => sqs.destroy());
afterEach(() => vi.restoreAllMocks());

const postGhl = (token: string, payload: unknown) =>
  invoke(ghl, tokenCall('/webhooks/ghl/sms', JSON.stringify(payload), token));

describe('GHL texts without a message time (issue 7.13)', () => {
  it('an identical text is deduplicated within the window and stored again after it; the answer names the rule', async () => {
    const t = await createTenant();
    const payload = ghlPayload(t, {
      contact_id: `c-${randomUUID()}`,
      message: { type: 2, body: 'Ok' },
      customData: { Message: 'Ok' },
    });
    const first = await postGhl(t.webhookToken, payload);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ deduped: false, dedupeRule: 'window' });
    const retry = await postGhl(t.webhookToken, payload);
    expect(retry.json).toMatchObject({
      deduped: true,
      dedupeRule: 'window',
      messageId: first.json.messageId,
    });
    advanceSystemClock((DEFAULT_GHL_DEDUPE_WINDOW_SECONDS + 1) * 1000);
    const later = await postGhl(t.webhookToken, payload);
    expect(later.json).toMatchObject({ deduped: false, dedupeRule: 'window' });
    expect(later.json.messageId).not.toBe(first.json.messageId);
    const again = await postGhl(t.webhookToken, payload);
    expect(again.json).toMatchObject({ deduped: true, messageId: later.json.messageId });
    const listed = await listedConversations(t);
    expect(listed.map((c) => c.messageCount)).toEqual([2]);
  });

  it('with a mapped message time the key is exact and never expires; with a provider id it is the id', async () => {
    const t = await createTenant();
    const payload = ghlPayload(t, { contact_id: `c-${randomUUID()}` });
    const first = await postGhl(t.webhookToken, payload);
    expect(first.json).toMatchObject({ deduped: false, dedupeRule: 'message_time' });
    advanceSystemClock((DEFAULT_GHL_DEDUPE_WINDOW_SECONDS + 1) * 1000);
    expect((await postGhl(t.webhookToken, payload)).json).toMatchObject({
      deduped: true,
      messageId: first.json.messageId,
    });
    const withId = ghlPayload(t, {
      contact_id: `c-${randomUUID()}`,
      messageId: `ghl-${randomUUID()}`,
    });
    expect((await postGhl(t.webhookToken, withId)).json).toMatchObject({
      dedupeRule: 'provider_id',
    });
  });

  it('concurrent identical deliveries without a message time → one message', async () => {
    const t = await createTenant();
    const payload = ghlPayload(t, {
      contact_id: `c-${randomUUID()}`,
      message: { type: 2, body: 'Yes' },
      customData: {},
    });
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => postGhl(t.webhookToken, payload)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(new Set(answers.map((a) => a.json.messageId)).size).toBe(1);
    expect(answers.filter((a) => a.json.deduped === false)).toHaveLength(1);
  });
});

describe('silent drops and misleading answers (issue 7.17)', () => {
  it('a signed Cloud API message whose sender parses as nobody is counted and logged as invalid', async () => {
    const t = await createTenant();
    const warn = vi.spyOn(logger, 'warn');
    const raw = cloudText(t, { wamid: `wamid.${randomUUID()}`, from: 'not-a-sender' });
    const answer = await invoke(whatsapp, cloudCall(raw));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ received: 1, stored: 0, invalid: 1 });
    expect(warn).toHaveBeenCalledWith(
      'webhook item not stored',
      expect.objectContaining({ outcome: 'invalid', reason: 'unparseable_sender' }),
    );
    expect(await listedConversations(t)).toEqual([]);
  });

  it('a GHL payload for a location no tenant owns is the same 401 as a wrong token (issue 26.11: claims stay private)', async () => {
    const t = await createTenant();
    const warn = vi.spyOn(logger, 'warn');
    const answer = await postGhl(t.webhookToken, {
      ...ghlPayload(t),
      location: { id: `loc-nobody-${randomUUID().slice(0, 8)}` },
    });
    expect(answer.status).toBe(401);
    expect(answer.json.error).toMatchObject({ code: 'unauthorized' });
    expect(warn).toHaveBeenCalledWith(
      'webhook rejected',
      expect.objectContaining({ reason: 'unknown_provider_id' }),
    );
  });

  it('refused requests leave one log line with the reason and without the token or the body', async () => {
    const t = await createTenant();
    const warn = vi.spyOn(logger, 'warn');
    const payload = JSON.stringify(ghlPayload(t));
    expect((await invoke(ghl, tokenCall('/webhooks/ghl/sms', payload, 'wrong-token'))).status).toBe(
      401,
    );
    const raw = cloudText(t, { wamid: `wamid.${randomUUID()}` });
    expect((await invoke(whatsapp, cloudCall(raw, 'not-the-secret'))).status).toBe(401);
    const lines = warn.mock.calls.filter((c) => c[0] === 'webhook rejected');
    expect(lines.map((c) => (c[1] as { reason: string }).reason)).toEqual([
      'token_mismatch',
      'bad_signature',
    ]);
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain('wrong-token');
    expect(logged).not.toContain('Can I see it');
  });
});
