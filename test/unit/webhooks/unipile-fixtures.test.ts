/**
 * The Unipile fixtures are Unipile's shapes: every field of a messaging or e-mail payload is one
 * the SDK lets a webhook carry (`WebhookCreateMessagingBodySchema` / `WebhookCreateEmailBodySchema`
 * `data[].key`, besides `event` and the documented `account_info`), and each parses with the
 * handler's own schemas, so a fixture that drifted from the definitions fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  kindOf,
  unipileMailSchema,
  unipileMessageSchema,
} from '../../../functions/webhooks/unipile.js';
import { emailPayloadKeys, messagingPayloadKeys } from '../../support/unipile-sdk.js';

const DIR = new URL('../../fixtures/providers/unipile/', import.meta.url);
const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({
    file,
    ...(JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as {
      source: string;
      payload: Record<string, unknown>;
    }),
  }));

describe('Unipile fixtures against the SDK definitions', () => {
  it('there are messaging and mail fixtures, each naming its source', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(5);
    for (const f of fixtures) expect(f.source).toMatch(/unipile/i);
  });

  for (const f of fixtures) {
    it(`${f.file}: every field is one Unipile sends, and the handler's schema reads it`, () => {
      const isMail = String(f.payload.event).startsWith('mail_');
      const allowed = isMail ? emailPayloadKeys : messagingPayloadKeys;
      const extra = Object.keys(f.payload).filter(
        (k) => k !== 'event' && k !== 'account_info' && !allowed.has(k),
      );
      expect(extra).toEqual([]);
      const kind = kindOf(String(f.payload.event));
      const payload = { ...f.payload, account_id: 'AcctUnitTest0000000001' };
      if (kind === 'message') expect(unipileMessageSchema.safeParse(payload).success).toBe(true);
      if (kind === 'mail') expect(unipileMailSchema.safeParse(payload).success).toBe(true);
    });
  }
});
