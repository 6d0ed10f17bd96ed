/**
 * The SSRF guard for tenant-given URLs (event endpoints, `events/`; a tenant's Unipile DSN,
 * `replies/channels/unipile.ts`): an endpoint URL must be `https` (plain `http` only to a
 * loopback address, and only where the caller's policy allows it: the local runtime), and every
 * address its host resolves to must be public unicast. Checked at registration (a 400) and again
 * before every delivery, whose connection is then pinned to the address checked here
 * (`transport.ts`), so a DNS answer that changes between the check and the connect (rebinding)
 * cannot send the request elsewhere.
 *
 * Ranges come from `ipaddr.js`' special-range table (RFC 6890 and its successors), not hand-written
 * masks: only `unicast` (what matches no special range) is allowed, which refuses private (RFC 1918),
 * carrier-grade NAT (100.64/10), loopback, link-local (169.254/16 with the metadata address
 * 169.254.169.254, fe80::/10), unique-local (fc00::/7 with fd00:ec2::254), unspecified, multicast,
 * reserved, and the IPv6 forms that embed an IPv4 address (mapped ::ffff:0:0/96 is judged by the
 * address it carries; NAT64, 6to4 and Teredo are refused outright).
 */
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to its addresses (a seam: tests answer what a rebinding DNS would). */
export interface Resolver {
  resolve(host: string): Promise<readonly ResolvedAddress[]>;
}

export const dnsResolver: Resolver = {
  async resolve(host) {
    const found = await lookup(host, { all: true, verbatim: true });
    return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
  },
};

export interface TargetPolicy {
  /** Plain http to a loopback address: the local runtime only (a setting, never on AWS). */
  readonly allowLoopbackHttp: boolean;
}

export class ForbiddenTargetError extends Error {
  override name = 'ForbiddenTargetError';
}

/** The range an address falls in (`unicast` when it is public), IPv4-mapped forms unwrapped. */
export function addressRange(address: string): string {
  if (!ipaddr.isValid(address)) return 'invalid';
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range();
}

export function isPublicAddress(address: string): boolean {
  return addressRange(address) === 'unicast';
}

export interface CheckedTarget {
  readonly url: URL;
  /** The address the connection must use. */
  readonly address: ResolvedAddress;
}

/** The URL's host resolved and every address checked; refuses with why (never the URL in logs). */
export async function checkTarget(
  raw: string,
  resolver: Resolver,
  policy: TargetPolicy,
): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ForbiddenTargetError('the url is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ForbiddenTargetError('the url must be https');
  }
  if (url.username || url.password) {
    throw new ForbiddenTargetError('the url must not carry credentials');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses: readonly ResolvedAddress[] = ipaddr.isValid(host)
    ? [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }]
    : await resolver.resolve(host).catch(() => {
        throw new ForbiddenTargetError('the url host does not resolve');
      });
  const first = addresses[0];
  if (!first) throw new ForbiddenTargetError('the url host does not resolve');
  const loopbackOk = policy.allowLoopbackHttp;
  for (const { address } of addresses) {
    const range = addressRange(address);
    if (range === 'unicast') continue;
    if (range === 'loopback' && loopbackOk) continue;
    // Every address, not just the first: a name with one private answer among public ones is
    // the rebinding pattern, and the connection could land on any of them.
    throw new ForbiddenTargetError(`the url host resolves to a ${range} address`);
  }
  if (url.protocol === 'http:' && !(loopbackOk && addressRange(first.address) === 'loopback')) {
    throw new ForbiddenTargetError('the url must be https');
  }
  return { url, address: first };
}

/** The guard as a check to run before a call: throws `ForbiddenTargetError` saying why. */
export function targetGuard(
  policy: TargetPolicy,
  resolver: Resolver = dnsResolver,
): (url: string) => Promise<void> {
  return async (url) => {
    await checkTarget(url, resolver, policy);
  };
}
