/**
 * The recovery schedule's decisions, with no store and no clock of their own: what happens to a
 * send whose outcome stayed unknown (held under `hold`, released once under `retry_once`, never
 * before its lease and the reconciliation window are over), and which due pending contacts ring.
 */
import { describe, expect, it } from 'vitest';
import type { RecipientItem } from '../../../functions/campaigns/items.js';
import {
  MAX_UNKNOWN_RETRIES,
  ringsNow,
  sendingVerdict,
} from '../../../functions/campaigns/recovery-policy.js';

const T0 = Date.parse('2026-12-07T00:00:00.000Z');
const WINDOW_SECONDS = 600;

function sending(overrides: Partial<RecipientItem> = {}): RecipientItem {
  return {
    tenantId: 't',
    campaignId: 'c',
    phone: '+972501234567',
    status: 'sending',
    attempts: 1,
    sendingSince: new Date(T0).toISOString(),
    leaseExpiresAt: T0 + 60_000,
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
    ...overrides,
  };
}

const afterWindow = T0 + WINDOW_SECONDS * 1000;

describe('an unknown outcome is never settled while its provider call may still answer', () => {
  it('waits while the lease runs, and until the reconciliation window has passed', () => {
    expect(sendingVerdict(sending(), 'retry_once', T0 + 30_000, WINDOW_SECONDS)).toEqual({
      action: 'wait',
    });
    expect(sendingVerdict(sending(), 'retry_once', afterWindow - 1, WINDOW_SECONDS)).toEqual({
      action: 'wait',
    });
    // A lease renewed past the window still holds it back.
    const renewed = sending({ leaseExpiresAt: afterWindow + 5_000 });
    expect(sendingVerdict(renewed, 'hold', afterWindow, WINDOW_SECONDS).action).toBe('wait');
  });

  it('counts a wamid kept on the recipient as sent, whatever the policy or the time', () => {
    const kept = sending({ providerMessageId: 'wamid.1' });
    expect(sendingVerdict(kept, 'hold', T0, WINDOW_SECONDS)).toEqual({ action: 'complete' });
    expect(sendingVerdict(kept, 'retry_once', afterWindow, WINDOW_SECONDS)).toEqual({
      action: 'complete',
    });
  });
});

describe('the tenant policy decides an unknown outcome past the window', () => {
  it('holds under hold: the contact ends unknown, its attempt named', () => {
    const verdict = sendingVerdict(sending({ attempts: 2 }), 'hold', afterWindow, WINDOW_SECONDS);
    expect(verdict.action).toBe('hold');
    expect(verdict).toMatchObject({ lastError: expect.stringContaining('attempt 2') });
  });

  it('releases once under retry_once, recording the retry, and holds the second unknown outcome', () => {
    expect(sendingVerdict(sending(), 'retry_once', afterWindow, WINDOW_SECONDS)).toMatchObject({
      action: 'release',
      unknownRetries: 1,
    });
    const retried = sending({ unknownRetries: MAX_UNKNOWN_RETRIES });
    expect(sendingVerdict(retried, 'retry_once', afterWindow, WINDOW_SECONDS).action).toBe('hold');
  });
});

describe('a due pending contact rings unless it waits for a pair-rate retry', () => {
  const now = new Date(T0).toISOString();
  it('rings with no retry time, or once it has passed', () => {
    expect(ringsNow(sending({ status: 'pending' }), now)).toBe(true);
    expect(ringsNow(sending({ status: 'pending', retryAt: now }), now)).toBe(true);
  });
  it('waits while its retry time is ahead', () => {
    const later = new Date(T0 + 1).toISOString();
    expect(ringsNow(sending({ status: 'pending', retryAt: later }), now)).toBe(false);
  });
});
