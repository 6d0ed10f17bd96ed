/**
 * The GHL dedupe windows' read side (the port) and its DynamoDB adapter: the claim a window key
 * stands for while its window is live. The claim itself is written in the message's own transaction
 * (`storeMessage`'s `MessageClaim`), so it is never written here.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { readItem } from '../kernel/read-item.js';
import { type GhlWindowClaim, keys, toGhlWindowClaim } from './items.js';

export interface GhlWindowStore {
  /** The claim of `dedupeKey` still live at `nowMs` (strongly consistent), or undefined. */
  liveClaim(dedupeKey: string, nowMs: number): Promise<GhlWindowClaim | undefined>;
}

export class DynamoDbGhlWindowStore implements GhlWindowStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async liveClaim(dedupeKey: string, nowMs: number): Promise<GhlWindowClaim | undefined> {
    const item = await readItem(this.ddb, this.table, keys.ghlWindow(dedupeKey));
    const claim = item ? toGhlWindowClaim(item) : undefined;
    return claim && claim.expiresAt > Math.floor(nowMs / 1000) ? claim : undefined;
  }
}
