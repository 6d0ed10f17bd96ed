/**
 * What happened to each webhook item, counted and logged, so nothing is dropped silently: `stored`
 * (a new message or an applied status), `deduped` (seen before), `unroutable` (no tenant or
 * campaign owns it), `invalid` (its content cannot be understood, e.g. a sender that parses as no
 * person). Log lines carry the provider, the outcome and the reason, never a phone, body or secret.
 *
 * Metrics (namespace `Onceflow`, dimension `source`): `WebhookItemStored`, `WebhookItemDeduped`,
 * `WebhookItemUnroutable`, `WebhookItemInvalid`, and `WebhookRejected` for a whole request refused
 * (bad signature or token).
 */
import { countMetric, logger } from '../kernel/telemetry.js';

export type WebhookOutcome = 'stored' | 'deduped' | 'unroutable' | 'invalid';

const METRIC: Record<WebhookOutcome, string> = {
  stored: 'WebhookItemStored',
  deduped: 'WebhookItemDeduped',
  unroutable: 'WebhookItemUnroutable',
  invalid: 'WebhookItemInvalid',
};

export interface OutcomeCounts {
  readonly received: number;
  readonly stored: number;
  readonly deduped: number;
  readonly unroutable: number;
  readonly invalid: number;
}

export class OutcomeTally {
  private readonly counts = { received: 0, stored: 0, deduped: 0, unroutable: 0, invalid: 0 };

  constructor(private readonly provider: string) {}

  record(outcome: WebhookOutcome, reason: string, fields: Record<string, unknown> = {}): void {
    this.counts.received += 1;
    this.counts[outcome] += 1;
    countMetric(METRIC[outcome]);
    const line = { provider: this.provider, outcome, reason, ...fields };
    if (outcome === 'stored' || outcome === 'deduped') logger.info('webhook item', line);
    else logger.warn('webhook item not stored', line);
  }

  /** Items acknowledged without looking at them (e.g. an ignored event type). */
  skip(): void {
    this.counts.received += 1;
  }

  totals(): OutcomeCounts {
    return { ...this.counts };
  }
}

/** A refused request: one log line with the reason (no token, signature or body) and a metric. */
export function logRejected(provider: string, reason: string): void {
  countMetric('WebhookRejected');
  logger.warn('webhook rejected', { provider, reason });
}
