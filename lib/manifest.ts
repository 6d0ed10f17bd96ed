/**
 * The one declaration of onceflow's runtime shape: every table, queue and function, with each
 * function's trigger and the resources it may touch. The CDK stack (`lib/onceflow-stack.ts`) and the
 * local runtime (`lib/local/`) are both generated from this file; nothing is wired by hand twice.
 *
 * Handler files export `handler`. Resource names here are logical: the stack maps them to physical
 * names and passes them to the function as environment variables (see `envNameForTable` and
 * `envNameForQueue`), which is how `functions/kernel/config.ts` finds them at run time.
 */

import { DEFAULT_VERSIONS, VERSION_ENV } from '../functions/kernel/provider-versions.js';
import type { QueueName, SecretName, TableName } from '../functions/kernel/resource-names.js';

// The names and their environment variables are the kernel's (it reads them at run time); the
// manifest declares the resources. Re-exported so `lib/` and tests keep one import.
export {
  envNameForQueue,
  envNameForSecret,
  envNameForTable,
  type QueueName,
  type SecretName,
  type TableName,
} from '../functions/kernel/resource-names.js';

/** Every key attribute, of tables and of indexes, is a string (`S`): ISO-8601 times sort as strings. */
export interface IndexSpec {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey: string;
  /**
   * What the index copies: every attribute (default), only the keys (the reader fetches the item),
   * or the keys and `nonKeyAttributes` (`INCLUDE`): a write that changes no copied attribute then
   * writes nothing to the index.
   */
  readonly projection?: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  /** With `INCLUDE`: the attributes copied besides the keys. */
  readonly nonKeyAttributes?: readonly string[];
}

export interface TableSpec {
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** Items with this epoch-seconds attribute expire (DynamoDB TTL). */
  readonly ttlAttribute: string;
  /** Global secondary indexes. `sweep` indexes are sparse: only items waiting for a schedule carry the key. */
  readonly indexes: readonly IndexSpec[];
  /**
   * The table's change feed (DynamoDB Streams, both images of every write): on for the tables whose
   * items are effects, read by a function with a `stream` trigger (the events change feed).
   */
  readonly stream?: 'NEW_AND_OLD_IMAGES';
}

export interface QueueSpec {
  /**
   * Seconds a received message stays invisible: at least 6x its consumer's timeout (Lambda's rule
   * for an SQS event source, checked at synth), so a batch Lambda retries after a throttle is
   * still hidden while it runs.
   */
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the queue's FIFO dead-letter queue. */
  readonly maxReceiveCount: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface HttpRoute {
  readonly method: HttpMethod;
  /** HTTP API route syntax, e.g. `/v1/tenants/{tenantId}`. */
  readonly path: string;
  /**
   * Every POST route says it (`test/unit/idempotency-key-manifest.test.ts`): `'honoured'` when it
   * creates something and answers the contract's `Idempotency-Key` (its handler declares
   * `httpHandler({ idempotencyKey }, ...)`, its function has the `idempotency` table, and
   * `test/integration/whole-service/idempotency-key-routes.test.ts` drives it); otherwise why the header is not
   * needed there.
   */
  readonly idempotencyKey?: 'honoured' | { readonly notNeeded: string };
}

/** Why campaign state changes take no `Idempotency-Key`: they create nothing, and repeat safely. */
const STATE_CHANGE = {
  notNeeded: 'a state change, not a creation: starting twice is a no-op, as are pause and resume',
} as const;

/** Why webhooks take no `Idempotency-Key`: their providers' own ids deduplicate them. */
const PROVIDER_DEDUPED = {
  notNeeded: "a provider webhook: deduplicated by the provider's message ids, never by a header",
} as const;

export type Trigger =
  | {
      readonly kind: 'http';
      readonly routes: readonly HttpRoute[];
      /**
       * This function also answers every request no route matches (the HTTP API `$default` route),
       * so AWS and the local runtime give an unknown route the same contract 404.
       */
      readonly defaultRoute?: boolean;
    }
  | {
      readonly kind: 'queue';
      readonly queue: QueueName;
      readonly batchSize: number;
      /**
       * The longest one record can take, from the bounds of the code it runs (provider timeouts,
       * waits, retries). The consumer starts no record with less than this left of its invocation
       * (the rest of the batch goes back to the queue), so a batch whose records run one after
       * another (one message group) never outruns the function; the function's timeout must
       * hold at least one record (checked at synth).
       */
      readonly recordSeconds: number;
    }
  | {
      readonly kind: 'schedule';
      /** How often the schedule fires, in seconds (EventBridge Scheduler `rate(...)`). */
      readonly everySeconds: number;
    }
  | {
      /**
       * The change feed of tables with a `stream`: Lambda's DynamoDB event source mapping on AWS
       * (from `TRIM_HORIZON`, partial batch responses, a failing batch bisected), the stream poller
       * locally (`lib/local/stream-poller.ts`), with the same batches, retries and dead letters.
       */
      readonly kind: 'stream';
      readonly tables: readonly TableName[];
      /** Records per invocation, at most (from one shard). */
      readonly batchSize: number;
      /**
       * Retries of a failing batch before its records are given up to the function's stream DLQ
       * (an SQS queue, which receives where they were, not the records). Bisections do not count.
       */
      readonly retryAttempts: number;
      /**
       * How long Lambda gathers a shard's records before invoking (`MaximumBatchingWindowInSeconds`,
       * whole seconds, 0–300; a full batch goes at once). Absent: 0, invoked as soon as records come.
       * https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html
       */
      readonly batchingWindowSeconds?: number;
    };

export type TableAccess = 'read' | 'readWrite';

export interface FunctionSpec {
  /** Handler module, relative to the project root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly trigger: Trigger;
  readonly tables: Readonly<Partial<Record<TableName, TableAccess>>>;
  /** Queues this function sends to. */
  readonly sendsTo?: readonly QueueName[];
  readonly secrets?: readonly SecretName[];
  /** @default 10 */
  readonly timeoutSeconds?: number;
  /** @default 512 */
  readonly memoryMb?: number;
  /**
   * Settings the function reads from its environment (a provider's endpoint, an API version). The
   * stack sets each one's deployed value; the local runtime gives the function the same template
   * environment, with a setting's `local` value in place of the deployed one where it has one (the
   * provider simulator's URL in place of the provider's).
   */
  readonly environment?: Readonly<Record<string, SettingValue>>;
}

/** A setting: one value everywhere, or the deployed value and what stands in for it locally. */
export type SettingValue =
  | string
  | { readonly deployed: string; readonly local: LocalSettingValue };

/** A local stand-in: a literal, or a URL on the local provider simulators (`path` appended). */
export type LocalSettingValue = string | { readonly simulator: string };

/** A function's settings as the stack sets them. */
export function deployedSettings(
  environment: FunctionSpec['environment'] = {},
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).map(([name, value]) => [
      name,
      typeof value === 'string' ? value : value.deployed,
    ]),
  );
}

/** The settings that differ locally, with their local values (`simBaseUrl`: the simulators' origin). */
export function localSettings(
  environment: FunctionSpec['environment'] = {},
  simBaseUrl: string,
): Record<string, string> {
  const local: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    if (typeof value === 'string') continue;
    local[name] =
      typeof value.local === 'string'
        ? value.local
        : `${simBaseUrl.replace(/\/$/, '')}${value.local.simulator}`;
  }
  return local;
}

/**
 * Where the WhatsApp Web and SMS reply channels send: GoHighLevel's API (locally its simulator),
 * and, locally only, the Evolution simulator for a tenant with no Evolution server stored (deployed,
 * a tenant's own server is always its stored `baseUrl`).
 */
const REPLY_PROVIDERS = {
  GHL_API_BASE_URL: {
    deployed: 'https://services.leadconnectorhq.com',
    local: { simulator: '' },
  },
  EVOLUTION_LOCAL_BASE_URL: { deployed: '', local: { simulator: '' } },
} as const;

/**
 * The provider API versions, as settings (kernel/provider-versions.ts holds the calendar they are
 * checked against): given to every function that calls the provider and to the daily check.
 */
const GOOGLE_ADS_VERSION = { [VERSION_ENV.googleAds]: DEFAULT_VERSIONS.googleAds };
const WHATSAPP_VERSION = { [VERSION_ENV.whatsappGraph]: DEFAULT_VERSIONS.whatsappGraph };

/** Plain http to loopback for event endpoints: the local runtime's receiver simulator only. */
const EVENTS_LOOPBACK = {
  ONCEFLOW_EVENTS_LOOPBACK_HTTP: { deployed: 'off', local: 'on' },
} as const;

const KEYS = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' } as const;
/** A general-purpose listing index (e.g. a tenant's conversations by recency). */
const GSI1: IndexSpec = { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' };
/**
 * `gsi1` of the inbound table lists a tenant's conversations and a conversation's messages. It copies
 * only what those two listings show, so the job state changes on a message item (`jobs`, `sweep*`)
 * and its alias links never rewrite the message's index entry.
 */
const INBOUND_GSI1: IndexSpec = {
  ...GSI1,
  projection: 'INCLUDE',
  nonKeyAttributes: [
    // both listings
    'tenantId',
    'conversationId',
    'createdAt',
    // a conversation (`toConversationView`)
    'conversationKey',
    'e164',
    'profileName',
    'leadId',
    'leadName',
    'lastMessageAt',
    'messageCount',
    // a message (`listMessages`)
    'messageId',
    'direction',
    'channel',
    'body',
    'providerMessageId',
    // a reply's send status (`functions/conversations/outbound.ts`)
    'status',
  ],
};
/** The sparse index the recovery and cleanup schedules query instead of scanning. */
const SWEEP: IndexSpec = { name: 'sweep', partitionKey: 'sweepPk', sortKey: 'sweepAt' };
/**
 * The jobs' sweep index on the inbound table: keys only, so the many job-state writes of a message
 * never copy its body into the index (recovery reads each message strongly consistently).
 */
const JOB_SWEEP: IndexSpec = {
  name: 'jobsweep',
  partitionKey: 'sweepPk',
  sortKey: 'sweepAt',
  projection: 'KEYS_ONLY',
};

export const tables: Readonly<Record<TableName, TableSpec>> = {
  tenants: { ...KEYS, indexes: [] },
  // Messages and conversations are effects: the change feed tells them (events out, issue 24).
  inbound: { ...KEYS, indexes: [INBOUND_GSI1, JOB_SWEEP], stream: 'NEW_AND_OLD_IMAGES' },
  // `gsi1` finds a recipient by wamid (a status without its echo): keys only, so the statuses that
  // move a sent recipient on never rewrite its index entry (the lookup reads the item itself).
  campaigns: {
    ...KEYS,
    indexes: [{ ...GSI1, projection: 'KEYS_ONLY' }, SWEEP],
    stream: 'NEW_AND_OLD_IMAGES',
  },
  // Powertools Idempotency's own layout: one partition key `id`, TTL on `expiration`.
  idempotency: { partitionKey: 'id', ttlAttribute: 'expiration', indexes: [] },
  // Offline conversions (issue 9): calls, session items, conversion and retraction rows.
  conversions: { ...KEYS, indexes: [GSI1, SWEEP], stream: 'NEW_AND_OLD_IMAGES' },
  // Conversion ledger (issue 10): members and stays, evidence, conversions. `sweep` holds only
  // evidence not yet applied; `gsi1` lists a tenant's conversions and its pending evidence.
  ledger: { ...KEYS, indexes: [GSI1, SWEEP], stream: 'NEW_AND_OLD_IMAGES' },
  // Events out (issue 24): endpoints, the event log kept for replay, deliveries (`gsi1`: an
  // endpoint's attempts, sharded; `functions/events/items.ts`). `sweep` (keys only) holds only
  // pending deliveries and running replays, for the events sweep.
  events: { ...KEYS, indexes: [GSI1, { ...SWEEP, projection: 'KEYS_ONLY' }] },
};

// Each 6x its consumer's timeout (30 s; the jobs consumer's 60 s). Kept short on purpose: a
// crashed batch hides its messages (and blocks their FIFO message groups) for this long; records a
// consumer has no time for are handed back at once instead (`recordSeconds`).
export const queues: Readonly<Record<QueueName, QueueSpec>> = {
  jobs: { visibilityTimeoutSeconds: 360, maxReceiveCount: 5 },
  sends: { visibilityTimeoutSeconds: 180, maxReceiveCount: 10 },
  fanout: { visibilityTimeoutSeconds: 180, maxReceiveCount: 5 },
  replies: { visibilityTimeoutSeconds: 180, maxReceiveCount: 10 },
  // A delivery's message stays in the queue (its group held, so its entity's later events wait)
  // until a 2xx or its last attempt: 8 attempts, each a receive, plus receives that find it not
  // yet due (a message hidden for its backoff can come back early after a crash). 6x a 30 s timeout.
  // Known limit: the messages queued behind it in its group come in the same batch (10) and are
  // received, and counted, with each of its receives; behind an entity whose receiver keeps
  // failing, about the 4th message (3 x 8 receives first) reaches 30 and is dead-lettered with its
  // delivery still pending: `DeadLetterMessages` alarms, and the `sweepEvents` schedule rings it
  // again 2 h after it was due (30 x 180 s = 90 min to the DLQ, plus slack: `RERING_AFTER_MS`).
  eventDeliveries: { visibilityTimeoutSeconds: 180, maxReceiveCount: 30 },
};

const declaredFunctions = {
  health: {
    entry: 'functions/health/handlers/get-health.ts',
    description: 'GET /health: 200 only when the store answers a read, else 503',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/health' }] },
    tables: { tenants: 'read' },
  },
  notFound: {
    entry: 'functions/health/handlers/not-found.ts',
    description: "The HTTP API $default route: the contract's 404 for any unknown route",
    trigger: { kind: 'http', routes: [], defaultRoute: true },
    tables: {},
  },
  putTenant: {
    entry: 'functions/tenants/handlers/put-tenant.ts',
    description: 'Create or update a tenant configuration (platform admin)',
    trigger: { kind: 'http', routes: [{ method: 'PUT', path: '/v1/tenants/{tenantId}' }] },
    tables: { tenants: 'readWrite' },
    secrets: ['adminKeyHash'],
  },
  getTenant: {
    entry: 'functions/tenants/handlers/get-tenant.ts',
    description: "A tenant's configuration, without credential hashes (platform admin)",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/tenants/{tenantId}' }] },
    tables: { tenants: 'read' },
    secrets: ['adminKeyHash'],
  },
  issueCredentials: {
    entry: 'functions/tenants/handlers/issue-credentials.ts',
    description: "Issue a tenant's API key, webhook token and export token (platform admin)",
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/tenants/{tenantId}/credentials',
          // Replaying the answer would mean keeping the secrets it shows once in clear.
          idempotencyKey: {
            notNeeded:
              'its answer holds secrets shown once (kept only as hashes); a retry issues fresh ones',
          },
        },
      ],
    },
    tables: { tenants: 'readWrite' },
    secrets: ['adminKeyHash'],
  },
  putProviderCredentials: {
    entry: 'functions/tenants/handlers/put-provider-credentials.ts',
    description: "Store a tenant's outbound provider credentials, sealed (platform admin)",
    trigger: {
      kind: 'http',
      routes: [{ method: 'PUT', path: '/v1/tenants/{tenantId}/providers/{provider}' }],
    },
    tables: { tenants: 'readWrite' },
    // `eventSigningKey`: the platform key the sealing key is derived from (`kernel/secret-box.ts`).
    secrets: ['adminKeyHash', 'eventSigningKey'],
  },
  // Inbound (issue 3): webhooks, conversations, post-processing jobs.
  receiveWhatsApp: {
    entry: 'functions/webhooks/handlers/receive-whatsapp.ts',
    description: 'WhatsApp Cloud API webhook: challenge; messages stored and statuses applied once',
    trigger: {
      kind: 'http',
      routes: [
        { method: 'GET', path: '/webhooks/whatsapp' },
        { method: 'POST', path: '/webhooks/whatsapp', idempotencyKey: PROVIDER_DEDUPED },
      ],
    },
    tables: { tenants: 'read', inbound: 'readWrite', campaigns: 'readWrite' },
    sendsTo: ['jobs'],
    secrets: ['whatsappAppSecret', 'whatsappVerifyToken'],
  },
  receiveWhatsAppWeb: {
    entry: 'functions/webhooks/handlers/receive-whatsapp-web.ts',
    description: 'WhatsApp Web (Baileys gateway, Evolution API v2) webhook: messages stored once',
    trigger: {
      kind: 'http',
      routes: [
        { method: 'POST', path: '/webhooks/whatsapp-web', idempotencyKey: PROVIDER_DEDUPED },
        // Evolution's "webhook by events" mode: `<url>/messages-upsert`, `<url>/messages-update`, ...
        {
          method: 'POST',
          path: '/webhooks/whatsapp-web/{event}',
          idempotencyKey: PROVIDER_DEDUPED,
        },
      ],
    },
    tables: { tenants: 'read', inbound: 'readWrite' },
    sendsTo: ['jobs'],
  },
  receiveUnipile: {
    entry: 'functions/webhooks/handlers/receive-unipile.ts',
    description:
      'Unipile webhook (LinkedIn, Instagram, Telegram, WhatsApp messages and e-mail): stored once',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/webhooks/unipile', idempotencyKey: PROVIDER_DEDUPED }],
    },
    tables: { tenants: 'read', inbound: 'readWrite' },
    sendsTo: ['jobs'],
  },
  receiveGhlSms: {
    entry: 'functions/webhooks/handlers/receive-ghl-sms.ts',
    description: 'GoHighLevel inbound SMS workflow webhook: stored once by its stable-field key',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/webhooks/ghl/sms', idempotencyKey: PROVIDER_DEDUPED }],
    },
    tables: { tenants: 'read', inbound: 'readWrite' },
    sendsTo: ['jobs'],
  },
  listConversations: {
    entry: 'functions/conversations/handlers/list-conversations.ts',
    description: "A tenant's conversations, most recent first",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/conversations' }] },
    tables: { tenants: 'read', inbound: 'read' },
  },
  listConversationMessages: {
    entry: 'functions/conversations/handlers/list-messages.ts',
    description: "A conversation's messages, oldest first",
    trigger: {
      kind: 'http',
      routes: [{ method: 'GET', path: '/v1/conversations/{conversationId}/messages' }],
    },
    tables: { tenants: 'read', inbound: 'read' },
  },
  putLead: {
    entry: 'functions/conversations/handlers/put-lead.ts',
    description: 'Create or update a lead; attach and merge the conversations of its phones',
    trigger: { kind: 'http', routes: [{ method: 'PUT', path: '/v1/leads/{leadId}' }] },
    tables: { tenants: 'read', inbound: 'readWrite' },
  },
  listMessageJobs: {
    entry: 'functions/conversations/handlers/list-jobs.ts',
    description: "A message's post-processing jobs",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/messages/{messageId}/jobs' }] },
    tables: { tenants: 'read', inbound: 'read' },
  },
  processJob: {
    entry: 'functions/replies/handlers/process-job.ts',
    description: 'Runs post-processing jobs (lead_match, ai_triage) from the jobs queue',
    // A record: one ring, the jobs of one message run one after another (issue 25): lead_match (a
    // few DynamoDB writes) then ai_triage, which makes up to two AI calls (classify, then draft when
    // the tenant's `aiReplies` asks for one; 20 s timeout each, `ai-client.ts`) and may create a
    // reply, then one settle for both: 50 s at its longest. The invocation must hold it, or a slow
    // model would time the invocation out before the settle and leave lead_match's finished work
    // unrecorded, run after run; the job lease (`ONCEFLOW_LEASE_SECONDS`, 60 s) outlasts it. Ten
    // records one after another (one message group) could take 500 s, so the consumer hands back
    // what it has no 50 s left for.
    trigger: { kind: 'queue', queue: 'jobs', batchSize: 10, recordSeconds: 50 },
    // `tenants` and `replies`: an AI reply reads the tenant's `aiReplies` and channels and is
    // created (and rung) as `POST /v1/conversations/{id}/messages` creates one.
    tables: { inbound: 'readWrite', tenants: 'read' },
    sendsTo: ['replies'],
    secrets: ['aiApiKey'],
    environment: {
      ONCEFLOW_AI_BASE_URL: { deployed: 'https://api.openai.com', local: { simulator: '' } },
    },
    timeoutSeconds: 60,
  },
  recoverJobs: {
    entry: 'functions/conversations/handlers/recover-jobs-schedule.ts',
    description: 'Re-enqueues jobs whose enqueue was lost and jobs whose worker crashed',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { inbound: 'readWrite' },
    sendsTo: ['jobs'],
    timeoutSeconds: 120,
  },
  // Campaigns (issue 4): API, fan-out, sender, recovery and counter reconciliation.
  createCampaign: {
    entry: 'functions/campaigns/handlers/create-campaign.ts',
    description: 'Create a draft campaign with its first page of recipients (Idempotency-Key)',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/campaigns', idempotencyKey: 'honoured' }],
    },
    tables: { tenants: 'read', campaigns: 'readWrite', idempotency: 'readWrite' },
    timeoutSeconds: 29,
  },
  addCampaignRecipients: {
    entry: 'functions/campaigns/handlers/add-recipients.ts',
    description: 'Add a page of recipients to a draft campaign, unique by E.164 across pages',
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/campaigns/{campaignId}/recipients',
          idempotencyKey: 'honoured',
        },
      ],
    },
    tables: { tenants: 'read', campaigns: 'readWrite', idempotency: 'readWrite' },
    timeoutSeconds: 29,
  },
  changeCampaignState: {
    entry: 'functions/campaigns/handlers/change-campaign-state.ts',
    description: 'Start (idempotent), pause or resume a campaign',
    trigger: {
      kind: 'http',
      routes: [
        { method: 'POST', path: '/v1/campaigns/{campaignId}/start', idempotencyKey: STATE_CHANGE },
        { method: 'POST', path: '/v1/campaigns/{campaignId}/pause', idempotencyKey: STATE_CHANGE },
        { method: 'POST', path: '/v1/campaigns/{campaignId}/resume', idempotencyKey: STATE_CHANGE },
      ],
    },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    // It rings only the fan-out, but `fanoutDeps()` reads both queue URLs when it is built: without
    // `sends` every start, pause and resume fails on AWS (ConfigurationError, 500).
    sendsTo: ['sends', 'fanout'],
  },
  listCampaigns: {
    entry: 'functions/campaigns/handlers/list-campaigns.ts',
    description: "A tenant's campaigns, newest first, with totals and progress (operator)",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/campaigns' }] },
    tables: { tenants: 'read', campaigns: 'read' },
  },
  getCampaign: {
    entry: 'functions/campaigns/handlers/get-campaign.ts',
    description: 'A campaign with its totals',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/campaigns/{campaignId}' }] },
    tables: { tenants: 'read', campaigns: 'read' },
  },
  listCampaignRecipients: {
    entry: 'functions/campaigns/handlers/list-recipients.ts',
    description: "A campaign's recipients, by status, with a cursor",
    trigger: {
      kind: 'http',
      routes: [{ method: 'GET', path: '/v1/campaigns/{campaignId}/recipients' }],
    },
    tables: { tenants: 'read', campaigns: 'read' },
  },
  retryCampaignRecipient: {
    entry: 'functions/campaigns/handlers/retry-recipient.ts',
    description: 'Sends a recipient whose outcome is unknown once more, on an operator request',
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/campaigns/{campaignId}/recipients/{phone}/retry',
          idempotencyKey: 'honoured',
        },
      ],
    },
    tables: { tenants: 'read', campaigns: 'readWrite', idempotency: 'readWrite' },
    // It sends only, but `fanoutDeps()` reads both queue URLs when it is built (see changeCampaignState).
    sendsTo: ['sends', 'fanout'],
  },
  fanoutCampaign: {
    entry: 'functions/campaigns/handlers/fanout-campaign.ts',
    description: "Turns one shard of a running campaign's pending recipients into send messages",
    // A record: one shard until its 20 s budget is spent (`fanout-campaign.ts`), plus the page in
    // flight then (a query, a mark, 10 SQS batches of 10, a cursor write: under 5 s): 25 s.
    trigger: { kind: 'queue', queue: 'fanout', batchSize: 1, recordSeconds: 25 },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    sendsTo: ['sends', 'fanout'],
    timeoutSeconds: 30,
  },
  sendCampaignMessage: {
    entry: 'functions/campaigns/handlers/send-campaign-message.ts',
    description: 'Sends one campaign recipient its WhatsApp template, at most once',
    // A record (`sender.ts`): a send token (waits up to 15 s while a campaign's senders queue for
    // the number's rate) and the provider call (10 s timeout), then the wamid store: 25 s. Ten
    // records of one message group run one after another and, under a campaign's load, wait ~12 s
    // each for their token (1,000 in flight / 80 per s): 125 s, past any sensible timeout, so the
    // consumer hands back (at once) what it has no 25 s left for. The 30 s timeout leaves 5 s for
    // the store. A record refused twice in a row retries inline (each retry another token wait and
    // call): that rare path can still meet the timeout, which then ends it as a crash would (the
    // claimed contact's outcome is reconciled, `docs/campaigns.md`).
    trigger: { kind: 'queue', queue: 'sends', batchSize: 10, recordSeconds: 25 },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    secrets: ['whatsappAccessToken'],
    environment: {
      WHATSAPP_API_BASE_URL: { deployed: 'https://graph.facebook.com', local: { simulator: '' } },
      ...WHATSAPP_VERSION,
    },
    timeoutSeconds: 30,
  },
  recoverCampaigns: {
    entry: 'functions/campaigns/handlers/recover-campaigns.ts',
    description:
      'Re-rings lost campaign work, releases unknown outcomes after the window, completes campaigns',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { tenants: 'read', campaigns: 'readWrite' },
    sendsTo: ['sends', 'fanout'],
    timeoutSeconds: 120,
  },
  reconcileCampaignCounters: {
    entry: 'functions/campaigns/handlers/reconcile-campaign-counters.ts',
    description: 'Recounts campaign recipients against their folded counts; emits CounterDrift',
    trigger: { kind: 'schedule', everySeconds: 300 },
    tables: { campaigns: 'readWrite' },
    timeoutSeconds: 300,
  },
  // Issue 25: campaign counters folded from the change feed of the recipients' transitions.
  foldCampaignCounters: {
    entry: 'functions/campaigns/handlers/fold-counters.ts',
    description:
      'Folds recipient transitions from the campaigns change feed into their fold groups, once per record',
    // A batch of 100 records is at most one conditional write per fold group it touches (two a
    // campaign), 8 in flight (a batch over 50 campaigns: 13 round trips, well under the timeout).
    // The 1 s batching window bounds each stream shard's invocations to ~1 a second unless full
    // batches come faster, which bounds the writes of one group item (docs/scale-campaigns.md)
    // and folds more transitions a write; the totals trail by up to the window more. The campaigns
    // stream's second reader (with `changeFeed`): DynamoDB advises at most two per shard.
    trigger: {
      kind: 'stream',
      tables: ['campaigns'],
      batchSize: 100,
      retryAttempts: 3,
      batchingWindowSeconds: 1,
    },
    tables: { campaigns: 'readWrite' },
    timeoutSeconds: 30,
  },
  // Replies (issue 23): the platform's own messages, sent once, in the person's conversation.
  postConversationMessage: {
    entry: 'functions/replies/handlers/post-conversation-message.ts',
    description: 'Queue a reply in a conversation, once per Idempotency-Key (required)',
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/conversations/{conversationId}/messages',
          idempotencyKey: 'honoured',
        },
      ],
    },
    tables: { tenants: 'read', inbound: 'readWrite', idempotency: 'readWrite' },
    sendsTo: ['replies'],
  },
  postMessage: {
    entry: 'functions/replies/handlers/post-message.ts',
    description: 'Queue a message to a person (phone or lead) in their one conversation',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/messages', idempotencyKey: 'honoured' }],
    },
    tables: { tenants: 'read', inbound: 'readWrite', idempotency: 'readWrite' },
    sendsTo: ['replies'],
  },
  getMessage: {
    entry: 'functions/replies/handlers/get-message.ts',
    description: 'A reply with its status, provider id and attempts',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/messages/{messageId}' }] },
    tables: { tenants: 'read', inbound: 'read' },
  },
  retryMessage: {
    entry: 'functions/replies/handlers/retry-message.ts',
    description: "An operator's explicit retry of a failed or unknown reply",
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/messages/{messageId}/retry',
          idempotencyKey: {
            notNeeded:
              'a state change of one reply: a repeat finds it queued (409) and never sends it twice',
          },
        },
      ],
    },
    tables: { tenants: 'read', inbound: 'readWrite' },
    sendsTo: ['replies'],
  },
  sendReply: {
    entry: 'functions/replies/handlers/send-reply.ts',
    description: 'Sends one reply on its channel, at most once',
    // A record: a send token (up to 15 s under a number's load, shared with campaigns), the
    // provider call (10 s timeout), the record write: 25 s, as the campaign sender.
    trigger: { kind: 'queue', queue: 'replies', batchSize: 10, recordSeconds: 25 },
    // `campaigns`: the send-rate bucket of each number lives there, shared with campaign sends.
    tables: { tenants: 'read', inbound: 'readWrite', campaigns: 'readWrite' },
    // `eventSigningKey`: opens the tenants' sealed Evolution and GoHighLevel credentials and
    // Unipile key (`tenants/provider-credentials.ts`).
    secrets: ['whatsappAccessToken', 'eventSigningKey'],
    environment: {
      WHATSAPP_API_BASE_URL: { deployed: 'https://graph.facebook.com', local: { simulator: '' } },
      ...WHATSAPP_VERSION,
      ...REPLY_PROVIDERS,
    },
    timeoutSeconds: 30,
  },
  reconcileReplies: {
    entry: 'functions/replies/handlers/reconcile-replies.ts',
    description:
      'Re-rings queued replies whose doorbell is lost; settles unknown outcomes by policy',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { tenants: 'read', inbound: 'readWrite' },
    sendsTo: ['replies'],
    // No `whatsappAccessToken`: the sweep never sends (a release re-rings the sender) and reads a
    // provider's record only through `findSent`, which WhatsApp Cloud has none of (no read-back of
    // a sent message); the channel's client reads its token lazily, on a send. Least privilege.
    // `eventSigningKey` opens the tenants' sealed provider keys for the record reads (`findSent`).
    secrets: ['eventSigningKey'],
    environment: {
      WHATSAPP_API_BASE_URL: { deployed: 'https://graph.facebook.com', local: { simulator: '' } },
      ...WHATSAPP_VERSION,
      ...REPLY_PROVIDERS,
    },
    timeoutSeconds: 120,
  },
  // Offline conversions to Google Ads (issue 9).
  recordCall: {
    entry: 'functions/oci/handlers/record-call.ts',
    description: 'Record a call from an ad click, idempotent by callId',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/calls', idempotencyKey: 'honoured' }],
    },
    tables: { tenants: 'read', conversions: 'readWrite', idempotency: 'readWrite' },
  },
  sealCall: {
    entry: 'functions/oci/handlers/seal-call.ts',
    description: "Seal a call: the session's one conversion, created with its uniqueness item",
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/calls/{callId}/seal', idempotencyKey: 'honoured' }],
    },
    tables: { tenants: 'read', conversions: 'readWrite', idempotency: 'readWrite' },
  },
  exportConversions: {
    entry: 'functions/oci/handlers/export-conversions.ts',
    description: 'Google Ads script export: claims due conversion or retraction rows (JSON or CSV)',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/oci/google-ads-export' }] },
    tables: { tenants: 'read', conversions: 'readWrite' },
    timeoutSeconds: 29,
  },
  ackConversions: {
    entry: 'functions/oci/handlers/ack-conversions.ts',
    description: "Google Ads script ack: applies Google's answers to exported rows",
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/oci/ack',
          idempotencyKey: {
            notNeeded: 'applies answers to rows it claimed; acking twice is harmless',
          },
        },
      ],
    },
    tables: { tenants: 'read', conversions: 'readWrite' },
    timeoutSeconds: 29,
  },
  listOciConversions: {
    entry: 'functions/oci/handlers/list-conversions.ts',
    description: "A tenant's Google Ads conversions, newest first, by status",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/conversions/oci' }] },
    tables: { tenants: 'read', conversions: 'read' },
  },
  retractOciConversion: {
    entry: 'functions/oci/handlers/retract-conversion.ts',
    description: 'Retract a conversion at Google once, or withdraw it before upload',
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/conversions/oci/{conversionId}/retract',
          idempotencyKey: 'honoured',
        },
      ],
    },
    tables: { tenants: 'read', conversions: 'readWrite', idempotency: 'readWrite' },
  },
  uploadOciConversions: {
    entry: 'functions/oci/handlers/upload-conversions.ts',
    description: 'API mode: uploads due conversions and retractions to Google Ads in batches',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { conversions: 'readWrite' },
    secrets: ['googleAdsOAuthClient', 'googleAdsDeveloperToken'],
    environment: {
      GOOGLE_ADS_API_BASE_URL: {
        deployed: 'https://googleads.googleapis.com',
        local: { simulator: '' },
      },
      GOOGLE_ADS_OAUTH_TOKEN_URL: {
        deployed: 'https://oauth2.googleapis.com/token',
        local: { simulator: '/token' },
      },
      ...GOOGLE_ADS_VERSION,
    },
    timeoutSeconds: 300,
  },
  recoverStaleOciRows: {
    entry: 'functions/oci/handlers/recover-stale-rows.ts',
    description: 'Returns conversion rows stuck in processing past their lease to retry',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { conversions: 'readWrite' },
    timeoutSeconds: 120,
  },
  checkProviderVersions: {
    entry: 'functions/health/handlers/check-provider-versions.ts',
    description:
      'Daily: the provider API versions in force against their sunset calendar (warn 60 days ahead, refuse past it)',
    trigger: { kind: 'schedule', everySeconds: 86_400 },
    tables: {},
    environment: { ...GOOGLE_ADS_VERSION, ...WHATSAPP_VERSION },
  },
  // Conversion ledger (issue 10): work-queue stays, evidence, conversions logged once per stay.
  putQueueMember: {
    entry: 'functions/ledger/handlers/put-member.ts',
    description: 'Join a work queue (idempotent while the stay lasts; a new stay after leaving)',
    trigger: {
      kind: 'http',
      routes: [{ method: 'PUT', path: '/v1/work-queues/{queueType}/members/{userId}' }],
    },
    tables: { tenants: 'read', ledger: 'readWrite' },
  },
  removeQueueMember: {
    entry: 'functions/ledger/handlers/remove-member.ts',
    description:
      'Leave a work queue for another reason (the stay ends; owed conversions stay owed)',
    trigger: {
      kind: 'http',
      routes: [{ method: 'DELETE', path: '/v1/work-queues/{queueType}/members/{userId}' }],
    },
    tables: { tenants: 'read', ledger: 'readWrite' },
  },
  listQueueMembers: {
    entry: 'functions/ledger/handlers/list-members.ts',
    description: "A work queue's current members with their stay",
    trigger: {
      kind: 'http',
      routes: [{ method: 'GET', path: '/v1/work-queues/{queueType}/members' }],
    },
    tables: { tenants: 'read', ledger: 'read' },
  },
  recordUserEvent: {
    entry: 'functions/ledger/handlers/record-event.ts',
    description: 'Store conversion evidence once and log the conversion it proves (source event)',
    trigger: {
      kind: 'http',
      routes: [{ method: 'POST', path: '/v1/users/{userId}/events', idempotencyKey: 'honoured' }],
    },
    tables: { tenants: 'read', ledger: 'readWrite', idempotency: 'readWrite' },
  },
  validateQueue: {
    entry: 'functions/ledger/handlers/validate-queue.ts',
    description: 'Pre-call validation: remove users who converted and log their conversions',
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/work-queues/{queueType}/validate',
          idempotencyKey: 'honoured',
        },
      ],
    },
    tables: { tenants: 'read', ledger: 'readWrite', idempotency: 'readWrite' },
    timeoutSeconds: 29,
  },
  listConversions: {
    entry: 'functions/ledger/handlers/list-conversions.ts',
    description: "A tenant's logged conversions, by user, type and source",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/conversions' }] },
    tables: { tenants: 'read', ledger: 'read' },
  },
  listMissingConversions: {
    entry: 'functions/ledger/handlers/list-missing-conversions.ts',
    description: 'Dry run of the reconciliation: conversions it would log now',
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/conversions/missing' }] },
    tables: { tenants: 'read', ledger: 'read' },
  },
  sweepWorkQueues: {
    entry: 'functions/ledger/handlers/sweep-work-queues.ts',
    description: 'Cleanup sweep: applies stored evidence not yet applied (source cleanup)',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { tenants: 'read', ledger: 'readWrite' },
    timeoutSeconds: 120,
  },
  reconcileConversions: {
    entry: 'functions/ledger/handlers/reconcile-conversions.ts',
    description:
      'Logs conversions every pipeline missed past the window (source reconciliation; ConversionsReconciled)',
    trigger: { kind: 'schedule', everySeconds: 300 },
    tables: { tenants: 'read', ledger: 'readWrite' },
    timeoutSeconds: 300,
  },
  // Events out (issue 24): the change feed of the effects' items, one event per effect.
  changeFeed: {
    entry: 'functions/events/handlers/change-feed.ts',
    description: 'Change feed of the effects: one event per committed effect, handed to delivery',
    // A batch: 100 records derived in memory and one hand-over to the dispatcher (per event: one
    // log write, one write per subscribed endpoint and one SQS batch send; entities 8 at a time):
    // well under the 30 s timeout. 3 retries, each batch bisected, isolate a bad record
    // in log2(100) + 3 ≈ 10 invocations before it goes to the DLQ and the shard moves on.
    trigger: {
      kind: 'stream',
      tables: ['inbound', 'campaigns', 'conversions', 'ledger'],
      batchSize: 100,
      retryAttempts: 3,
    },
    // The dispatcher: the tenant's endpoints read, each event kept (for replay) and one delivery
    // item per subscribed endpoint written, the deliveries rung on their FIFO queue.
    tables: { events: 'readWrite' },
    sendsTo: ['eventDeliveries'],
    timeoutSeconds: 30,
  },
  // Events out (issue 24): the sweep of lost doorbells and unfinished replays.
  sweepEvents: {
    entry: 'functions/events/handlers/sweep-events.ts',
    description:
      'Re-rings pending event deliveries whose message was lost or dead-lettered; continues replays',
    trigger: { kind: 'schedule', everySeconds: 60 },
    tables: { events: 'readWrite' },
    sendsTo: ['eventDeliveries'],
    timeoutSeconds: 120,
  },
  // Events out (issue 24): the endpoints API and the delivery worker.
  putEventEndpoint: {
    entry: 'functions/events/handlers/put-endpoint.ts',
    description: 'Register (SSRF-checked, secret shown once) or update an event endpoint',
    trigger: {
      kind: 'http',
      routes: [{ method: 'PUT', path: '/v1/event-endpoints/{endpointId}' }],
    },
    tables: { tenants: 'read', events: 'readWrite' },
    secrets: ['eventSigningKey'],
    environment: EVENTS_LOOPBACK,
  },
  listEventEndpoints: {
    entry: 'functions/events/handlers/list-endpoints.ts',
    description: "A tenant's event endpoints, without secrets",
    trigger: { kind: 'http', routes: [{ method: 'GET', path: '/v1/event-endpoints' }] },
    tables: { tenants: 'read', events: 'read' },
  },
  deleteEventEndpoint: {
    entry: 'functions/events/handlers/delete-endpoint.ts',
    description: 'Delete an event endpoint (its pending deliveries close as failed)',
    trigger: {
      kind: 'http',
      routes: [{ method: 'DELETE', path: '/v1/event-endpoints/{endpointId}' }],
    },
    tables: { tenants: 'read', events: 'readWrite' },
  },
  listEventAttempts: {
    entry: 'functions/events/handlers/list-attempts.ts',
    description: "An event endpoint's deliveries with their attempts, by status",
    trigger: {
      kind: 'http',
      routes: [{ method: 'GET', path: '/v1/event-endpoints/{endpointId}/attempts' }],
    },
    tables: { tenants: 'read', events: 'read' },
  },
  replayEventEndpoint: {
    entry: 'functions/events/handlers/replay-endpoint.ts',
    description: 'Deliver every kept event since a time to one endpoint again, same ids',
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/event-endpoints/{endpointId}/replay',
          idempotencyKey: 'honoured',
        },
      ],
    },
    tables: { tenants: 'read', events: 'readWrite', idempotency: 'readWrite' },
    sendsTo: ['eventDeliveries'],
    timeoutSeconds: 29,
  },
  rotateEventEndpointSecret: {
    entry: 'functions/events/handlers/rotate-secret.ts',
    description: "Rotate an event endpoint's signing secret (both sign for 24 h)",
    trigger: {
      kind: 'http',
      routes: [
        {
          method: 'POST',
          path: '/v1/event-endpoints/{endpointId}/secret',
          idempotencyKey: {
            notNeeded:
              'its answer holds a secret shown once (kept only sealed); a retry rotates again',
          },
        },
      ],
    },
    tables: { tenants: 'read', events: 'readWrite' },
    secrets: ['eventSigningKey'],
  },
  deliverEvents: {
    entry: 'functions/events/handlers/deliver-events.ts',
    description: 'Posts one event to one endpoint per message (Standard Webhooks), with retries',
    // A record: the SSRF check (a DNS lookup, ~1 s at worst), one POST (10 s timeout), four
    // writes and, when an endpoint is disabled, one dispatch: 15 s. 6x30 s is the visibility.
    trigger: { kind: 'queue', queue: 'eventDeliveries', batchSize: 10, recordSeconds: 15 },
    tables: { events: 'readWrite' },
    sendsTo: ['eventDeliveries'],
    secrets: ['eventSigningKey'],
    environment: EVENTS_LOOPBACK,
    timeoutSeconds: 30,
  },
} satisfies Readonly<Record<string, FunctionSpec>>;

/** Every function the manifest declares, by name: a type, so a lookup by a wrong name fails tsc. */
export type FunctionName = keyof typeof declaredFunctions;

export const functions: Readonly<Record<FunctionName, FunctionSpec>> = declaredFunctions;

/** FIFO queue physical name suffix is required by SQS. */
export function queueResourceName(queue: QueueName, prefix = 'onceflow'): string {
  return `${prefix}-${queue}.fifo`;
}

/** The function declared as the HTTP API's `$default` route, if any (at most one). */
export function defaultRouteFunction(
  of: Readonly<Record<string, FunctionSpec>> = functions,
): string | undefined {
  const names = Object.entries(of)
    .filter(([, spec]) => spec.trigger.kind === 'http' && spec.trigger.defaultRoute === true)
    .map(([name]) => name);
  if (names.length > 1) throw new Error(`only one function may be the $default route: ${names}`);
  return names[0];
}

export function httpRoutes(
  of: Readonly<Record<string, FunctionSpec>> = functions,
): Array<HttpRoute & { functionName: string }> {
  return Object.entries(of).flatMap(([functionName, spec]) =>
    spec.trigger.kind === 'http'
      ? spec.trigger.routes.map((route) => ({ ...route, functionName }))
      : [],
  );
}
