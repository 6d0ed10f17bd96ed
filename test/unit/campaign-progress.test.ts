/** `GET /v1/campaigns` progress figures from totals and times (`campaignProgress`). */
import { describe, expect, it } from 'vitest';
import { campaignProgress } from '../../functions/campaigns/campaign-listing.js';
import { emptyTotals, type Totals } from '../../functions/campaigns/model.js';

const START = Date.parse('2026-11-28T10:00:00.000Z');
const totals = (t: Partial<Totals>): Totals => ({ ...emptyTotals(), ...t });

describe('campaign progress', () => {
  it('averages sends since start and sizes the ETA by the slower of measured and configured', () => {
    const p = campaignProgress(
      { status: 'running', startedAt: new Date(START).toISOString() },
      totals({ recipients: 1000, pending: 400, sent: 500, failed: 50, skipped: 50 }),
      START + 10_000,
      20,
      3,
    );
    // 550 contacts went through a send (skipped ones did not) in 10 s; 400 left at the 20/s cap.
    expect(p).toEqual({
      sendsPerSecond: 55,
      configuredRate: 20,
      etaSeconds: 20,
      awaitingEvidence: 3,
    });
  });

  it('uses the configured rate before the first send, and gives no ETA unless running', () => {
    const backlog = totals({ recipients: 100, pending: 100 });
    const started = new Date(START).toISOString();
    expect(
      campaignProgress({ status: 'running', startedAt: started }, backlog, START, 40, 0),
    ).toMatchObject({ sendsPerSecond: 0, etaSeconds: 3 });
    expect(
      campaignProgress({ status: 'paused', startedAt: started }, backlog, START + 5000, 40, 0),
    ).toMatchObject({ etaSeconds: null });
    expect(campaignProgress({ status: 'draft' }, backlog, START, 40, 0)).toMatchObject({
      sendsPerSecond: 0,
      etaSeconds: null,
    });
  });

  it('stops the clock at completion', () => {
    const p = campaignProgress(
      {
        status: 'completed',
        startedAt: new Date(START).toISOString(),
        completedAt: new Date(START + 4000).toISOString(),
      },
      totals({ recipients: 10, delivered: 10 }),
      START + 3_600_000,
      80,
      0,
    );
    expect(p).toMatchObject({ sendsPerSecond: 2.5, etaSeconds: 0 });
  });
});
