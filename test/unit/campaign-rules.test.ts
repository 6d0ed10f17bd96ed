/** The campaign rules that need no network: identities, ordering of statuses, error classes, rates. */
import { describe, expect, it } from 'vitest';
import { movesForward } from '../../functions/campaigns/apply-status.js';
import { keys } from '../../functions/campaigns/items.js';
import {
  decodeCallbackData,
  encodeCallbackData,
  SEND_GROUPS,
  sendGroupOf,
} from '../../functions/campaigns/model.js';
import { normalizeRecipients } from '../../functions/campaigns/recipient-input.js';
import { afterRefusal, PAIR_RATE_RETRY_MS } from '../../functions/campaigns/sender.js';
import { createWhatsAppClient } from '../../functions/campaigns/whatsapp-client.js';
import { windowAllowance } from '../../functions/kernel/token-bucket.js';
import { newWamid, validateSend } from '../../lib/local/sim/whatsapp.js';

describe('recipients', () => {
  it('collapses formats of one contact and reports invalid phones by position', () => {
    const page = normalizeRecipients(
      [
        { phone: '+972501234567' },
        { phone: '050-123-4567' },
        { phone: 'nope' },
        { phone: '0521234567' },
      ],
      'IL',
    );
    expect(page.contacts.map((c) => c.phone)).toEqual(['+972501234567', '+972521234567']);
    expect(page.duplicates).toBe(1);
    expect(page.invalid).toEqual([{ index: 2, raw: 'nope' }]);
  });

  it('reads WhatsApp identifiers as international numbers, never as national ones', () => {
    const page = normalizeRecipients(
      [
        { phone: '12125550102@c.us' },
        { phone: '972501234567:12@s.whatsapp.net' },
        { phone: '972501234567@s.whatsapp.net' },
        { phone: '82399031480511@lid' },
        { phone: '120363025246125486@g.us' },
      ],
      'IL',
    );
    expect(page.contacts.map((c) => c.phone)).toEqual(['+12125550102', '+972501234567']);
    expect(page.duplicates).toBe(1);
    expect(page.invalid.map((i) => i.index)).toEqual([3, 4]);
  });

  it('derives one key per contact whatever format it came in, and never shares one across campaigns or tenants', () => {
    const [a, b] = ['050-123-4567', '+972 50 123 4567'].map(
      (phone) => normalizeRecipients([{ phone }], 'IL').contacts[0]?.phone ?? '',
    );
    expect([a, b]).toEqual(['+972501234567', '+972501234567']);
    expect(keys.recipient('t', 'c', a ?? '')).toEqual(keys.recipient('t', 'c', b ?? ''));
    const ids = [
      keys.recipient('t', 'c', '+972501234567'),
      keys.recipient('t', 'c', '+972501234568'),
      keys.recipient('t', 'c2', '+972501234567'),
      keys.recipient('t2', 'c', '+972501234567'),
    ].map((k) => `${k.pk}|${k.sk}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('spreads one campaign over many message groups', () => {
    const groups = new Set(
      Array.from({ length: 10_000 }, (_, i) =>
        sendGroupOf('cmp', `+9725${String(10_000_000 + i)}`),
      ),
    );
    expect(groups.size).toBe(SEND_GROUPS);
  });

  it('round-trips the callback data and refuses anything else', () => {
    expect(decodeCallbackData(encodeCallbackData('cmp_1', '+972501234567'))).toEqual({
      campaignId: 'cmp_1',
      phone: '+972501234567',
    });
    expect(decodeCallbackData('ofc1|cmp|+97250|x')).toBeUndefined();
    expect(decodeCallbackData('hello')).toBeUndefined();
    expect(decodeCallbackData(undefined)).toBeUndefined();
  });
});

describe('status order', () => {
  it('moves forward only; a provider failed follows sending or sent; late evidence outranks our verdicts', () => {
    expect(movesForward('sending', 'sent')).toBe(true);
    expect(movesForward('pending', 'delivered')).toBe(true);
    expect(movesForward('delivered', 'sent')).toBe(false);
    expect(movesForward('read', 'delivered')).toBe(false);
    expect(movesForward('delivered', 'delivered')).toBe(false);
    expect(movesForward('sent', 'failed')).toBe(true);
    expect(movesForward('delivered', 'failed')).toBe(false);
    // Issue 7 item 12: a contact we ended failed or unknown moves to what the provider reports.
    expect(movesForward('failed', 'read')).toBe(true);
    expect(movesForward('failed', 'delivered')).toBe(true);
    expect(movesForward('failed', 'failed')).toBe(false);
    expect(movesForward('unknown', 'delivered')).toBe(true);
    expect(movesForward('unknown', 'failed')).toBe(true);
    expect(movesForward('skipped', 'delivered')).toBe(false);
  });
});

/** One template send, and a Cloud API client whose every request is answered with `body`. */
const send = {
  phoneNumberId: '1',
  to: '+972501234567',
  template: { name: 'a', language: 'en' },
  callbackData: 'c',
};
const answering = (status: number, body: string) =>
  createWhatsAppClient({
    baseUrl: 'http://x',
    version: 'v25.0',
    accessToken: async () => 't',
    fetch: async () => new Response(body, { status }),
  });

describe('provider errors', () => {
  /**
   * The Cloud API codes `/work/shared/provider-facts.md` documents (WhatsApp Cloud API section),
   * each answered the way the Graph API answers (an HTTP error with `{"error": {"code"}}`) through
   * the real client, and what must then happen to the recipient according to that fact.
   */
  const documented = [
    // "130429 over throughput": the number was too fast; nothing is wrong with the contact.
    { code: 130429, status: 400, fact: 'over the number’s throughput', recipient: 'retry' },
    // "131056 pair rate 1 msg / 6 s per user": only this contact must wait.
    { code: 131056, status: 400, fact: 'pair rate to one user', recipient: 'later' },
    // "131026 undeliverable": the same send can never succeed.
    { code: 131026, status: 400, fact: 'undeliverable', recipient: 'failed' },
  ] as const;
  const graphError = (status: number, code: number) =>
    answering(
      status,
      JSON.stringify({
        error: { message: `(#${code}) documented error`, type: 'OAuthException', code },
      }),
    );

  it.each(documented)(
    '$code ($fact): nothing was sent, and the recipient is $recipient',
    async ({ code, status, recipient }) => {
      const result = await graphError(status, code).sendTemplate(send);
      // A refusal: never recorded as sent, never an unknown outcome held for evidence.
      expect(result.kind).toBe('rejected');
      if (result.kind !== 'rejected') return;
      expect(result.code).toBe(code);
      expect(afterRefusal(result.class)).toBe(recipient);
    },
  );

  it('a pair-rate refusal waits at least the documented 6 s per user before ringing again', () => {
    expect(PAIR_RATE_RETRY_MS).toBeGreaterThanOrEqual(6_000);
  });

  it('an HTTP 429 or a 5xx with a Graph error is retried, whatever its code', async () => {
    for (const [status, code] of [
      [429, 4],
      [500, 131000],
      [503, 1],
    ] as const) {
      const result = await graphError(status, code).sendTemplate(send);
      expect(result.kind === 'rejected' && afterRefusal(result.class)).toBe('retry');
    }
  });

  it('tells a refused connection (not sent) from a lost answer (unknown)', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'ECONNREFUSED' },
    });
    const reset = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'UND_ERR_SOCKET' },
    });
    const client = (error: Error) =>
      createWhatsAppClient({
        baseUrl: 'http://x',
        version: 'v25.0',
        accessToken: async () => 't',
        fetch: async () => {
          throw error;
        },
      });
    const send = {
      phoneNumberId: '1',
      to: '+972501234567',
      template: { name: 'a', language: 'en' },
      callbackData: 'c',
    };
    expect(await client(refused).sendTemplate(send)).toMatchObject({
      kind: 'rejected',
      class: 'transient',
    });
    expect(await client(reset).sendTemplate(send)).toMatchObject({ kind: 'unknown' });
  });
});

describe('provider answers in front of the Graph API', () => {
  it('a 5xx without a Graph error (gateway timeout) is an unknown outcome, never a refusal', async () => {
    expect(await answering(504, '<html>Gateway Time-out</html>').sendTemplate(send)).toMatchObject({
      kind: 'unknown',
    });
    expect(await answering(502, '').sendTemplate(send)).toMatchObject({ kind: 'unknown' });
  });

  it('a 5xx the Graph API answered with its error code is a refusal to retry', async () => {
    const graph = JSON.stringify({
      error: { message: '(#131000) Something went wrong', code: 131000 },
    });
    expect(await answering(500, graph).sendTemplate(send)).toMatchObject({
      kind: 'rejected',
      class: 'transient',
      code: 131000,
    });
  });
});

describe('token bucket windows', () => {
  it('spreads any rate over a second exactly', () => {
    for (const rate of [1, 7, 80, 1000]) {
      let sum = 0;
      for (let w = 0; w < 10; w++) sum += windowAllowance(12_340 + w, rate, 100);
      expect(sum).toBe(rate);
    }
  });
});

describe('simulator request validation', () => {
  it('accepts a template send and refuses malformed ones with code 100', () => {
    const ok = {
      messaging_product: 'whatsapp',
      to: '972501234567',
      type: 'template',
      template: { name: 'x', language: { code: 'en_US' } },
    };
    expect(validateSend(ok)).toBeUndefined();
    expect(validateSend({ ...ok, messaging_product: undefined })?.code).toBe(100);
    expect(validateSend({ ...ok, to: 'abc' })?.code).toBe(100);
    expect(validateSend({ ...ok, template: { name: 'x' } })?.code).toBe(100);
    expect(newWamid('972501234567')).toMatch(/^wamid\.[A-Za-z0-9+/=]+$/);
  });
});
