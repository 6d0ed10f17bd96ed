/**
 * The fault settings of the provider simulators, one schema per provider key of
 * `PUT /_sim/faults` (`whatsapp`, `googleAds`, `openai`), and a small store each simulator keeps its
 * current settings in, so every provider reads the same body the same way:
 *
 * - a PUT **merges** into what is armed: `{"whatsapp": {"undeliverableNumbers": [...]}}` keeps an
 *   earlier `errorRate`; a field set back to its default (`"errorRate": 0`, `[]`) disarms it, and a
 *   provider set to `null` is cleared;
 * - the listing shows only what is **armed** (fields that differ from their defaults), never
 *   `errorRate: 0` ghosts;
 * - faults live in memory: a restart of the runtime starts with none armed, while what the providers
 *   accepted (their journals, `journal.ts`) survives it.
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

export const unipileFaultsSchema = z
  .object({
    /**
     * Share of sends refused: half 429 `errors/too_many_requests` (nothing sent), half 500
     * `errors/unexpected_error` (nothing sent either, but the caller cannot know that).
     */
    errorRate: rate.default(0),
    /** Share of sends accepted, recorded and echoed, whose answer is then lost. */
    lostResponseRate: rate.default(0),
    latencyMs: ms.default(0),
  })
  .strict();

/**
 * Evolution API (`sendText`) and GoHighLevel (`POST /conversations/messages`): the same three
 * faults as Unipile's, each simulator's `errorRate` answering in its provider's own error shape.
 */
export const evolutionFaultsSchema = unipileFaultsSchema;
export const ghlFaultsSchema = unipileFaultsSchema;

export const openaiFaultsSchema = z
  .object({
    /** Share of completions answered 500 `server_error`. */
    errorRate: rate.default(0),
    latencyMs: z.number().int().min(0).max(60_000).default(0),
  })
  .strict();

/**
 * The settings of one provider: `get` is every setting in effect (defaults included), `armed` only
 * those that differ from their defaults. `set` merges and validates (throwing names the bad field);
 * nothing changes when the body is refused.
 */
export class FaultStore<S extends z.ZodType<Record<string, unknown>>> {
  private readonly defaults: z.output<S>;
  private current: z.output<S>;
  constructor(private readonly schema: S) {
    this.defaults = schema.parse({});
    this.current = this.defaults;
  }
  get(): z.output<S> {
    return this.current;
  }
  armed(): Partial<z.output<S>> {
    return Object.fromEntries(
      Object.entries(this.current).filter(
        ([field, value]) =>
          JSON.stringify(value) !==
          JSON.stringify((this.defaults as Record<string, unknown>)[field]),
      ),
    ) as Partial<z.output<S>>;
  }
  set(input: unknown): z.output<S> {
    if (input === null) {
      this.clear();
      return this.current;
    }
    if (typeof input !== 'object' || Array.isArray(input)) {
      throw new Error('(faults): expected an object of settings, or null to clear them');
    }
    const parsed = this.schema.safeParse({ ...this.current, ...input });
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
    this.current = this.defaults;
  }
}

/** A simulator module's `setFaults` / `clearFaults` / `getFaults`, answered by its `FaultStore`. */
export function faultMethods<S extends z.ZodType<Record<string, unknown>>>(store: FaultStore<S>) {
  return {
    setFaults: (input: unknown) => {
      store.set(input);
    },
    clearFaults: () => store.clear(),
    getFaults: () => store.armed() as Record<string, unknown>,
  };
}
