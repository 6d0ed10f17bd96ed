/**
 * The credential store: the port the kernel's authentication is handed (`CredentialStore.find`, as
 * its `CredentialLookup`) and its DynamoDB adapter. The `CRED#<sha256>` item is declared in
 * `items.ts`; only hashes are stored, and a rotation deletes the old items in the same transaction
 * that writes the new ones (`tenant-store.ts`).
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { CredentialRecord } from '../kernel/auth.js';
import { keys, toCredential } from './items.js';

export interface CredentialStore {
  /** The credential stored under this hash, if any. */
  find(hash: string): Promise<CredentialRecord | undefined>;
}

export class DynamoDbCredentialStore implements CredentialStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async find(hash: string): Promise<CredentialRecord | undefined> {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: keys.credential(hash) }),
    );
    return out.Item ? toCredential(out.Item) : undefined;
  }
}
