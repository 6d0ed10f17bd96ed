/**
 * The SSRF guard's address rules: every forbidden range the contract names (and their IPv4-mapped
 * IPv6 forms) is refused, public unicast is allowed, http only to loopback and only when allowed.
 */
import { describe, expect, it } from 'vitest';
import {
  checkTarget,
  ForbiddenTargetError,
  isPublicAddress,
  type Resolver,
} from '../../../functions/kernel/ssrf.js';

const FORBIDDEN = [
  '10.0.0.1',
  '172.16.5.4',
  '192.168.1.1',
  '100.64.0.1', // CGNAT
  '127.0.0.1',
  '127.255.255.254',
  '169.254.169.254', // instance metadata
  '169.254.1.1',
  '0.0.0.0',
  '255.255.255.255',
  '224.0.0.1',
  '::1',
  '::',
  'fe80::1',
  'fc00::1',
  'fd00:ec2::254', // instance metadata over IPv6
  '::ffff:127.0.0.1',
  '::ffff:169.254.169.254',
  '::ffff:10.1.2.3',
  '64:ff9b::a00:1', // NAT64 of 10.0.0.1
  '2002:a00:1::1', // 6to4 of 10.0.0.1
];
const PUBLIC = ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'];

const resolverOf = (addresses: string[]): Resolver => ({
  resolve: async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
});

describe('address ranges', () => {
  it.each(FORBIDDEN)('%s is not a public address', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });
  it.each(PUBLIC)('%s is a public address', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe('checkTarget', () => {
  const https = { allowLoopbackHttp: false };
  it.each(FORBIDDEN)('refuses a host that resolves to %s', async (address) => {
    await expect(
      checkTarget('https://hooks.example.com/x', resolverOf([address]), https),
    ).rejects.toThrow(ForbiddenTargetError);
  });
  it('refuses a host when any one of its addresses is forbidden', async () => {
    await expect(
      checkTarget('https://hooks.example.com/x', resolverOf(['8.8.8.8', '10.0.0.1']), https),
    ).rejects.toThrow(ForbiddenTargetError);
  });
  it('refuses literal forbidden addresses without asking DNS', async () => {
    const never: Resolver = { resolve: () => Promise.reject(new Error('asked DNS')) };
    for (const url of [
      'https://127.0.0.1/',
      'https://[::1]/',
      'https://[::ffff:a9fe:a9fe]/',
      'https://169.254.169.254/latest',
    ]) {
      await expect(checkTarget(url, never, https)).rejects.toThrow(ForbiddenTargetError);
    }
  });
  it('allows https to a public address, pinned to the address checked', async () => {
    const target = await checkTarget(
      'https://hooks.example.com/x',
      resolverOf(['93.184.216.34']),
      https,
    );
    expect(target.address).toEqual({ address: '93.184.216.34', family: 4 });
  });
  it('refuses plain http, other schemes and credentials in the URL', async () => {
    const pub = resolverOf(['93.184.216.34']);
    for (const url of [
      'http://hooks.example.com/',
      'ftp://hooks.example.com/',
      'https://u:p@hooks.example.com/',
      'not a url',
    ]) {
      await expect(checkTarget(url, pub, https)).rejects.toThrow(ForbiddenTargetError);
    }
  });
  it('allows plain http to loopback only where the policy allows it, never http to a public host', async () => {
    const local = { allowLoopbackHttp: true };
    await expect(
      checkTarget('http://127.0.0.1:4010/_sim/receiver/a', resolverOf([]), local),
    ).resolves.toBeDefined();
    await expect(checkTarget('http://127.0.0.1:4010/', resolverOf([]), https)).rejects.toThrow(
      ForbiddenTargetError,
    );
    await expect(
      checkTarget('http://hooks.example.com/', resolverOf(['93.184.216.34']), local),
    ).rejects.toThrow(ForbiddenTargetError);
    await expect(
      checkTarget('https://localhost/', resolverOf(['10.0.0.1']), local),
    ).rejects.toThrow(ForbiddenTargetError);
  });
});
