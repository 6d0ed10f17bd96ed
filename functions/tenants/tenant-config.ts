/**
 * A tenant's configuration and the rules on it that need no store: its schema, the provider
 * identifiers it claims, whether two configurations are the same, and how many identifier changes
 * one update may carry.
 */
import { type CountryCode, isSupportedCountry } from 'libphonenumber-js';
import { canonicalJson } from '../kernel/canonical-json.js';
import { ConflictError, InvalidRequestError } from '../kernel/errors.js';
import * as z from '../kernel/zod.js';

/** api.md: every client-supplied id is 1–256 characters. */
const providerId = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_.:@-]{1,256}$/, 'must be 1-256 letters, digits, _ . : @ -'));
/** Each list is capped at 30 ids. */
export const MAX_IDS_PER_LIST = 30;
/** A list of up to 30 distinct ids of one kind. */
const distinctIds = (id: z.ZodMiniString<string>) =>
  z.array(id).check(
    z.maxLength(MAX_IDS_PER_LIST),
    z.refine((ids) => new Set(ids).size === ids.length, {
      message: 'must not repeat an id',
    }),
  );
const idList = distinctIds(providerId);
/**
 * Evolution API instance names are free text: its `instanceSchema` (EvolutionAPI/evolution-api
 * `src/validate/instance.schema.ts`) only requires a non-empty string, so spaces and any printable
 * character occur. 1-256 characters (api.md), no control characters.
 */
export const instanceNameSchema = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(256),
    z.regex(/^[^\p{Cc}\p{Cs}]+$/u, 'must be 1-256 printable characters'),
  );
const instanceList = distinctIds(instanceNameSchema);
/** WhatsApp Cloud API phone number ids: Graph object ids, decimal digits (1–64 of them). */
const phoneNumberIdList = distinctIds(
  z.string().check(z.regex(/^\d{1,64}$/, 'must be the digits of a WhatsApp phone number id')),
);
/**
 * Unipile account ids (`account_id` of every webhook and send; 22-character url-safe ids such as
 * `dfXlh46vQYCsMbVarumWlg` in developer.unipile.com/docs/new-messages-webhook): letters, digits,
 * `_` and `-`. They name a path segment of no request, but are kept to that alphabet anyway.
 */
const unipileAccountIdList = distinctIds(
  z
    .string()
    .check(
      z.regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be a Unipile account id (letters, digits, _ -)'),
    ),
);
/**
 * The tenant's Unipile DSN (`api<N>.unipile.com:<port>`, the host every API call goes to:
 * developer.unipile.com/docs/getting-started). A host and optional port only, never a URL with a
 * path, so no tenant can point the reply sender at an arbitrary URL (it is prefixed `https://`).
 */
const unipileDsn = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+(?::\d{1,5})?$/,
      'must be the Unipile DSN host (e.g. api8.unipile.com:13851)',
    ),
  );

/**
 * The kinds of account Unipile connects (`unipile-node-sdk` 1.9.3: `MessagingAccountTypeSchema` in
 * `messaging/messaging.types` and `accountSourceProviderSchema` in `schemas/utils.schema`): what a
 * tenant says each of its accounts is, so replies know which channels it can answer on.
 */
export const UNIPILE_ACCOUNT_TYPES = [
  'LINKEDIN',
  'INSTAGRAM',
  'TELEGRAM',
  'WHATSAPP',
  'MESSENGER',
  'TWITTER',
  'SLACK',
  'GOOGLE',
  'OUTLOOK',
  'MAIL',
  'MOBILE',
] as const;
export type UnipileAccountType = (typeof UNIPILE_ACCOUNT_TYPES)[number];

const unipileConfig = z
  .strictObject({
    accountIds: unipileAccountIdList,
    dsn: unipileDsn,
    /** Each account's type (optional; an account without one gives no reply channel). */
    accountTypes: z.optional(z.record(z.string(), z.enum(UNIPILE_ACCOUNT_TYPES))),
  })
  .check(
    z.superRefine((u, ctx) => {
      for (const accountId of Object.keys(u.accountTypes ?? {})) {
        if (!u.accountIds.includes(accountId)) {
          ctx.addIssue({
            code: 'custom',
            path: ['accountTypes', accountId],
            message: 'names an account not in unipile.accountIds',
          });
        }
      }
    }),
  );

/** Work-queue and event type names (api.md: 1–256 characters; no key separators). */
const LEDGER_NAME = /^[A-Za-z0-9_.:@+=~-]{1,256}$/;
const LEDGER_NAME_RULE = 'must be 1-256 letters, digits, _ . : @ + = ~ -';
const MAX_WORK_QUEUES = 50;

export const tenantConfigSchema = z.strictObject({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)),
  defaultCountry: z
    .pipe(
      z.string().check(z.length(2)),
      z.transform((c) => c.toUpperCase() as CountryCode),
    )
    .check(z.refine((c) => isSupportedCountry(c), 'must be an ISO 3166-1 alpha-2 country code')),
  // A Cloud API phone number id is a Graph object id: digits only. Anything else would reach the
  // Graph path (`/{version}/{phoneNumberId}/messages`) as a path segment, and `..` would climb it.
  whatsapp: z.optional(z.strictObject({ phoneNumberIds: phoneNumberIdList })),
  ghl: z.optional(z.strictObject({ locationIds: idList })),
  whatsappWeb: z.optional(z.strictObject({ instances: instanceList })),
  /** LinkedIn, Instagram, Telegram and e-mail accounts connected through Unipile. */
  unipile: z.optional(unipileConfig),
  googleAds: z.optional(
    z
      .strictObject({
        customerId: z.string().check(z.regex(/^\d{10}$/, 'must be the 10-digit customer id')),
        conversionAction: z
          .string()
          .check(
            z.regex(
              /^customers\/\d{10}\/conversionActions\/\d+$/,
              'must be a conversion action resource name',
            ),
          ),
        /**
         * The conversion action's name as Google Ads shows it: what the CSV import's "Conversion
         * Name" column matches (https://support.google.com/google-ads/answer/7014069). Required in
         * script mode; the AdWords offline conversion feeds capped it at 100 characters.
         */
        conversionName: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(100))),
        uploadMode: z._default(z.enum(['script', 'api']), 'script'),
      })
      .check(
        z.superRefine((g, ctx) => {
          if (g.uploadMode === 'script' && !g.conversionName) {
            ctx.addIssue({
              code: 'custom',
              path: ['conversionName'],
              message:
                "is required in script mode: the conversion action's name as Google Ads shows it",
            });
          }
        }),
      ),
  ),
  messagesPerSecond: z._default(z.number().check(z.int(), z.gte(1), z.lte(1000)), 80),
  /** api.md: what a send whose outcome stayed unknown past the window becomes. */
  unknownOutcome: z._default(z.enum(['hold', 'retry_once']), 'hold'),
  /**
   * AI replies (docs/replies.md, "AI replies"): `off` (absent means this: triage only, no
   * draft), `draft` (the `ai_triage` job drafts a reply and keeps it on the job for a person to
   * read) or `send` (the draft is sent as a reply, `source: "ai"`, once per inbound message).
   */
  aiReplies: z.optional(z.enum(['off', 'draft', 'send'])),
  /** Conversion ledger: the tenant's own work queues, each waiting for one event type. */
  workQueues: z.optional(
    z
      .record(
        z.string().check(z.regex(LEDGER_NAME, LEDGER_NAME_RULE)),
        z.string().check(z.regex(LEDGER_NAME, LEDGER_NAME_RULE)),
      )
      .check(
        z.refine((queues) => Object.keys(queues).length <= MAX_WORK_QUEUES, {
          message: `at most ${MAX_WORK_QUEUES} work queues`,
        }),
      ),
  ),
});

export type TenantConfig = z.output<typeof tenantConfigSchema>;

export type ClaimKind =
  | 'whatsapp_phone'
  | 'ghl_location'
  | 'whatsapp_web_instance'
  | 'unipile_account';

export interface Claim {
  readonly kind: ClaimKind;
  readonly id: string;
}

/** The request field that lists each kind of claim (for 409 and 400 details). */
export const CLAIM_FIELD: Readonly<Record<ClaimKind, string>> = {
  whatsapp_phone: 'whatsapp.phoneNumberIds',
  ghl_location: 'ghl.locationIds',
  whatsapp_web_instance: 'whatsappWeb.instances',
  unipile_account: 'unipile.accountIds',
};

export function claimsOf(config: Partial<TenantConfig>): Claim[] {
  return [
    ...(config.whatsapp?.phoneNumberIds ?? []).map((id) => ({
      kind: 'whatsapp_phone' as const,
      id,
    })),
    ...(config.ghl?.locationIds ?? []).map((id) => ({ kind: 'ghl_location' as const, id })),
    ...(config.whatsappWeb?.instances ?? []).map((id) => ({
      kind: 'whatsapp_web_instance' as const,
      id,
    })),
    ...(config.unipile?.accountIds ?? []).map((id) => ({ kind: 'unipile_account' as const, id })),
  ];
}

const sameClaim = (a: Claim) => (b: Claim) => a.kind === b.kind && a.id === b.id;

/** The claims an update must take and the ones it must release. */
export function claimChanges(
  held: readonly Claim[],
  wanted: readonly Claim[],
): { take: Claim[]; release: Claim[] } {
  return {
    take: wanted.filter((claim) => !held.some(sameClaim(claim))),
    release: held.filter((claim) => !wanted.some(sameClaim(claim))),
  };
}

/**
 * One update is one DynamoDB transaction (≤ 100 writes): the configuration item plus one write per
 * identifier taken or released. Applying a bigger change in several transactions would leave, between
 * them, identifiers owned by a tenant whose configuration does not list them; so it is refused.
 */
export const MAX_TRANSACTION_WRITES = 100;
export const MAX_CLAIM_CHANGES_PER_UPDATE = MAX_TRANSACTION_WRITES - 1;

/** Throws a 400 naming the limit when an update changes more identifiers than one transaction holds. */
export function assertUpdateFits(changes: { take: Claim[]; release: Claim[] }): void {
  const count = changes.take.length + changes.release.length;
  if (count <= MAX_CLAIM_CHANGES_PER_UPDATE) return;
  const fields = [
    ...new Set([...changes.take, ...changes.release].map((c) => CLAIM_FIELD[c.kind])),
  ];
  throw new InvalidRequestError(
    `One tenant update may add or remove at most ${MAX_CLAIM_CHANGES_PER_UPDATE} identifiers; this one changes ${count}. Apply it in several smaller updates.`,
    fields.map((field) => ({
      field,
      message: `at most ${MAX_CLAIM_CHANGES_PER_UPDATE} identifiers may change in one update`,
    })),
  );
}

/**
 * How many (queue type → event type) mappings a tenant keeps in `workQueuesEver`: the 50 it may have
 * at once and 150 past ones. Each is at most 2 × 256 characters, so ≤ 103 KB of the tenant item.
 */
export const MAX_WORK_QUEUE_MAPPINGS = 200;

/**
 * Every event type each work-queue type has waited for, now or before (the ledger matches evidence
 * to a stay by the event type the stay was joined with, so a queue remapped or removed must still
 * be found by its old event type). Grows only; written in the same put as the configuration that
 * changes `workQueues`, so no join can use a mapping that is not in it. Over the cap: 409.
 */
export function workQueuesEver(
  previous: Readonly<Record<string, readonly string[]>> | undefined,
  ...configs: Array<Readonly<Record<string, string>> | undefined>
): Record<string, string[]> {
  const ever: Record<string, Set<string>> = {};
  const add = (queueType: string, eventType: string) => {
    ever[queueType] ??= new Set();
    ever[queueType].add(eventType);
  };
  for (const [queueType, eventTypes] of Object.entries(previous ?? {})) {
    for (const eventType of eventTypes) add(queueType, eventType);
  }
  for (const config of configs) {
    for (const [queueType, eventType] of Object.entries(config ?? {})) add(queueType, eventType);
  }
  const mappings = Object.values(ever).reduce((n, set) => n + set.size, 0);
  if (mappings > MAX_WORK_QUEUE_MAPPINGS) {
    throw new ConflictError(
      `A tenant keeps at most ${MAX_WORK_QUEUE_MAPPINGS} work-queue mappings, past ones included; this change would make ${mappings}.`,
      'conflict',
      [{ field: 'workQueues', message: `at most ${MAX_WORK_QUEUE_MAPPINGS} mappings ever` }],
    );
  }
  return Object.fromEntries(
    Object.entries(ever)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([queueType, set]) => [queueType, [...set].sort()]),
  );
}

/** The configuration fields of a stored tenant (what a PUT body sets). */
export function configFields(stored: Partial<TenantConfig>): Partial<TenantConfig> {
  const keys = Object.keys(tenantConfigSchema.shape) as Array<keyof TenantConfig>;
  return Object.fromEntries(keys.map((key) => [key, stored[key]])) as Partial<TenantConfig>;
}

/** True when a stored configuration already says exactly what `config` says (a no-op PUT). */
export function sameConfig(stored: Partial<TenantConfig>, config: TenantConfig): boolean {
  return canonicalJson(configFields(stored)) === canonicalJson(configFields(config));
}
