/**
 * The fault settings of the provider simulators, one schema per provider key of
 * `PUT /_sim/faults` (`whatsapp`, `googleAds`), and a small store each simulator keeps its
 * current settings in. A Google Ads simulator takes `googleAdsFaultsSchema` from here, so both
 * providers read the same body the same way.
 */
import * as z from 'zod';

const rate = z.number().min(0).max(1);
const ms = z.number().int().min(0).max(600_000);

export const whatsappFaultsSchema = z
  .object({
    /** Share of sends answered with an error (a mix of 5xx `131000` and permanent `131026`). */
    errorRate: rate.default(0),
    /** Accepted sends per second per phone number id; over it → `130429`. 0 = unlimited. */
    rateLimitPerSecond: z.number().min(0).max(100_000).default(0),
    latencyMs: ms.default(0),
    /** Share of sends accepted and recorded, whose answer is then lost (connection destroyed). */
    lostResponseRate: rate.default(0),
    /** Share of status webhooks delivered twice. */
    statusDuplicateRate: rate.default(0),
    /** Typical delay of a status webhook after the send (each status is jittered around it). */
    statusDelayMs: ms.default(100),
    /**
     * Numbers that cannot receive WhatsApp messages (E.164 or digits): the send is accepted, as the
     * Cloud API does, and its only status webhook is `failed` with error 131026.
     */
    undeliverableNumbers: z
      .array(z.string().regex(/^\+?\d{6,15}$/, 'must be a phone number in E.164 or digits'))
      .max(10_000)
      .default([]),
  })
  .strict();

const clickIds = z.array(z.string().min(1).max(256)).max(100_000).default([]);

export const googleAdsFaultsSchema = z
  .object({
    /** Share of requests answered 500 INTERNAL without being processed. */
    errorRate: rate.default(0),
    /** Share of requests processed (conversions counted) whose answer is then lost. */
    lostResponseRate: rate.default(0),
    latencyMs: ms.default(0),
    /** Share of requests refused 429 RESOURCE_EXHAUSTED (quota) without being processed. */
    quotaExceededRate: rate.default(0),
    /** Clicks under 6 hours old from when the faults were set: TOO_RECENT_EVENT until then. */
    tooRecentClickIds: clickIds,
    /** Clicks Google cannot parse: UNPARSEABLE_GCLID (or _GBRAID / _WBRAID), a permanent error. */
    unknownClickIds: clickIds,
    /** The refresh token was revoked: the OAuth token endpoint answers 400 `invalid_grant`. */
    oauthRevoked: z.boolean().default(false),
  })
  .strict();

/** Current settings of one provider; `set` validates (throwing names the bad field). */
export class FaultStore<S extends z.ZodType<object>> {
  private current: z.output<S>;
  constructor(private readonly schema: S) {
    this.current = schema.parse({});
  }
  get(): z.output<S> {
    return this.current;
  }
  set(input: unknown): z.output<S> {
    const parsed = this.schema.safeParse(input ?? {});
    if (!parsed.success) {
      throw new Error(
        parsed.error.issues
          .map((i) => `${i.path.join('.') || '(faults)'}: ${i.message}`)
          .join('; '),
      );
    }
    this.current = parsed.data;
    return this.current;
  }
  clear(): void {
    this.current = this.schema.parse({});
  }
}
