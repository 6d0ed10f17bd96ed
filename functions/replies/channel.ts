/**
 * One provider's way of sending a reply (api.md, "Replies"). The reply sender (the kernel's
 * outbound-effect primitive driven by `functions/replies`) claims the reply, calls `send` with the
 * reply's own id as the correlation handle, and records the provider id in the very next write.
 *
 * The distinction that matters, as for campaigns (`campaigns/whatsapp-client.ts`): a *rejection*
 * (nothing was sent; retrying is safe) against an *unknown outcome* (the provider may have accepted
 * it and the answer was lost; retrying blind could send twice).
 */

export type ReplyChannelName =
  | 'whatsapp'
  | 'whatsapp_web'
  | 'sms'
  | 'linkedin'
  | 'instagram'
  | 'telegram'
  | 'email';

export interface ReplyTemplate {
  readonly name: string;
  readonly language: string;
  readonly components?: readonly unknown[];
}

export interface ReplySend {
  readonly tenantId: string;
  /** onceflow's id of the reply: sent as the provider's correlation handle where it takes one. */
  readonly messageId: string;
  readonly channel: ReplyChannelName;
  /** The provider-side address: phone (E.164), Evolution JID, GHL contact id, Unipile chat id or e-mail address. */
  readonly to: string;
  /** The sending account: phone number id, Evolution instance, GHL location id, Unipile account id. */
  readonly from: string;
  readonly body?: string;
  readonly subject?: string;
  readonly template?: ReplyTemplate;
  /**
   * The provider's id of the message this reply answers, where the provider threads by it (Unipile
   * e-mail: the inbound mail's `email_id`, sent as `reply_to` of `POST /api/v1/emails`).
   */
  readonly replyTo?: string;
  /**
   * When the current attempt began (ISO, the reply's `sendingSince`): a provider read judges its
   * sync lag by it, and where a provider takes no handle its record of this send is looked for only
   * among messages sent since then (`findSent`).
   */
  readonly sendingSince?: string;
}

export type ReplySendResult =
  | { readonly kind: 'accepted'; readonly providerMessageId: string }
  | {
      readonly kind: 'rejected';
      /** `retry`: transient or throughput (nothing sent); `permanent`: sending again cannot work. */
      readonly retry: boolean;
      readonly httpStatus: number;
      readonly code: string | undefined;
      readonly message: string;
    }
  | { readonly kind: 'unknown'; readonly reason: string };

/** Evidence read from the provider's own record of a send whose answer was lost, where it has one. */
export type ProviderRecord =
  | { readonly kind: 'found'; readonly providerMessageId: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unavailable' };

export interface ReplyChannel {
  readonly name: ReplyChannelName;
  send(send: ReplySend): Promise<ReplySendResult>;
  /** Only for providers that let a sent message be found by the handle (say which in the adapter). */
  findSent?(send: ReplySend): Promise<ProviderRecord>;
}
