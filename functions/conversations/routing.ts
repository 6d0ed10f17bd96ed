/**
 * Where a person's messages go: the key items and alias links, read strongly consistently by key
 * (never by a query). A key item may name a conversation that was merged since; the message write
 * then follows `mergedInto` (see `store-message.ts`).
 */

import { batchGetAll } from '../kernel/batch-get.js';
import type { Item } from '../kernel/put-once.js';
import { readItem } from '../kernel/read-item.js';
import type { PersonIdentity } from './identity.js';
import {
  conversationKey,
  isKeyItem,
  type KeyItem,
  keys,
  type LinkItem,
  toKeyItem,
  toLinkItem,
} from './items.js';
import type { ConversationsStoreContext } from './merge.js';

export type { KeyItem };

/** The key items of `keys` that exist, by key (strongly consistent batch reads). */
export async function readKeyItems(
  ctx: Pick<ConversationsStoreContext, 'ddb' | 'table'>,
  conversationKeys: readonly string[],
): Promise<Map<string, KeyItem>> {
  const found = new Map<string, KeyItem>();
  if (conversationKeys.length === 0) return found;
  for (const raw of await batchGetAll(
    ctx.ddb,
    ctx.table,
    conversationKeys.map(keys.conversationKey),
  )) {
    const item = toKeyItem(raw);
    if (item) found.set(item.key, item);
  }
  return found;
}

/**
 * Key items a warm container saw, by key. Safe to serve stale: a key item only ever stops naming a
 * conversation after that conversation was merged (`merge.ts` redirects keys last), and the filing
 * transaction requires its conversation not merged, so a stale route fails that condition, is
 * forgotten (`forget`) and read again; a key not found is never cached. It saves the route read of
 * a person's every message after the first in the same container.
 */
export interface RouteCache {
  get(key: string, load: () => Promise<KeyItem | undefined>): Promise<KeyItem | undefined>;
  forget(key: string): void;
}

export interface Route {
  /** The key the person's messages are filed under (`phone:` or `alias:`). */
  readonly routeKey: string;
  readonly e164?: string;
  /** Aliases of the payload already linked to `e164` (their link items need no rewrite). */
  readonly linked?: ReadonlySet<string>;
  /** The key item of `routeKey`, when it exists. */
  readonly existing?: KeyItem;
}

/**
 * Aliases without a phone in the payload are looked up in the link items (one batch read of every
 * alias's link with the first alias's own key item): any of them linked to a phone routes the
 * message to that phone. Then the phone's key item is read, in one batch with the link items of the
 * payload's aliases when it shows any (so links already in place are not written again).
 */
export async function resolveRoute(
  ctx: Pick<ConversationsStoreContext, 'ddb' | 'table'> & { readonly routes?: RouteCache },
  tenantId: string,
  person: PersonIdentity,
): Promise<Route> {
  const { ddb, table } = ctx;
  let e164 = person.e164;
  let linkedVia: string | undefined;
  let linkedAliases: ReadonlySet<string> | undefined;
  const alias = person.aliases[0];
  if (!e164 && alias) {
    const aliasRouteKey = conversationKey(tenantId, { alias });
    // Every key answered: one DynamoDB left unprocessed is read again, never taken as absent.
    const items = await batchGetAll(ddb, table, [
      ...person.aliases.map((a) => keys.link(tenantId, a)),
      keys.conversationKey(aliasRouteKey),
    ]);
    // The first alias (in the payload's sorted order) that is linked decides the phone.
    const links = new Map(linksOf(items).map((l) => [l.alias, l]));
    const via = person.aliases.find((a) => links.has(a));
    const link = via ? links.get(via) : undefined;
    if (via && link) {
      e164 = link.e164;
      linkedVia = via;
      linkedAliases = new Set(
        [...links.values()].filter((l) => l.e164 === link.e164).map((l) => l.alias),
      );
    } else {
      const raw = items.find(isKeyItem);
      const existing = raw ? toKeyItem(raw) : undefined;
      return { routeKey: aliasRouteKey, ...(existing ? { existing } : {}) };
    }
  }
  if (!e164) throw new Error('resolveRoute needs a phone or an alias');
  const routeKey = conversationKey(tenantId, { e164 });
  if (person.aliases.length === 0 || !person.e164) {
    const read = async () => {
      const item = await readItem(ddb, table, keys.conversationKey(routeKey));
      return item ? toKeyItem(item) : undefined;
    };
    // A phone-only payload may take its key item from the cache (see `RouteCache`).
    const existing = ctx.routes && !linkedVia ? await ctx.routes.get(routeKey, read) : await read();
    return {
      routeKey,
      e164,
      ...(linkedAliases ? { linked: linkedAliases } : {}),
      ...(existing ? { existing } : {}),
    };
  }
  const items = await batchGetAll(ddb, table, [
    keys.conversationKey(routeKey),
    ...person.aliases.map((a) => keys.link(tenantId, a)),
  ]);
  const raw = items.find(isKeyItem);
  const existing = raw ? toKeyItem(raw) : undefined;
  const linked = new Set(
    linksOf(items)
      .filter((l) => l.e164 === e164)
      .map((l) => l.alias),
  );
  return { routeKey, e164, linked, ...(existing ? { existing } : {}) };
}

function linksOf(items: readonly Item[]): LinkItem[] {
  return items.flatMap((item) => {
    const link = toLinkItem(item);
    return link ? [link] : [];
  });
}
