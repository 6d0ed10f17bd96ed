/**
 * AI replies (docs/replies.md, "AI replies"): the replies side of the `ai_triage` job's port
 * (`AiReplyPort`, jobs'). A tenant with `aiReplies: "send"` has the job's draft sent as a reply
 * with `source: "ai"` and the job's telemetry source, through the same create path as
 * `POST /v1/conversations/{id}/messages` (`createReply`: the conversation followed through merges,
 * the 24-hour window, the channel rules, the doorbell and the sweep).
 *
 * Once per inbound message, whatever the job's retries: the reply's id derives from the inbound
 * message (`aiReplyIdFor`), never from the run, and its identity is that message too, so a retried
 * or racing run whose model worded the draft otherwise answers the first reply rather than a
 * mismatch.
 */
import type { AiReplyOutcome, AiReplyPort } from '../jobs/index.js';
import type { Tenant } from '../tenants/index.js';
import { aiReplyIdFor } from './items.js';
import {
  createReply,
  type ReplyDeps,
  type TenantChannels,
  UnprocessableError,
} from './reply-store.js';

export interface AiReplyDeps extends ReplyDeps {
  readonly tenant: (tenantId: string) => Promise<Tenant | undefined>;
  readonly channelsOf: (tenant: Tenant) => TenantChannels;
}

export function aiReplies(deps: AiReplyDeps): AiReplyPort {
  return {
    async mode(tenantId) {
      return (await deps.tenant(tenantId))?.aiReplies ?? 'off';
    },
    async send(input): Promise<AiReplyOutcome> {
      const tenant = await deps.tenant(input.tenantId);
      if (!tenant) return { sent: false, reason: 'tenant_not_found' };
      try {
        const created = await createReply(deps, {
          tenantId: input.tenantId,
          conversationId: input.conversationId,
          messageId: aiReplyIdFor(input.tenantId, input.inboundMessageId),
          request: { body: input.body, source: 'ai', telemetrySource: input.telemetrySource },
          identity: `ai-reply|${input.inboundMessageId}`,
          channels: deps.channelsOf(tenant),
        });
        return { sent: true, messageId: created.messageId, created: created.created };
      } catch (error) {
        // A reply the conversation cannot take (no channel, outside WhatsApp's 24 hours) stays a
        // draft: retrying the job would be refused the same way.
        if (error instanceof UnprocessableError) return { sent: false, reason: error.code };
        throw error;
      }
    },
  };
}
