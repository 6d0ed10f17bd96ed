import { describe, expect, it } from 'vitest';
import {
  constantTimeEqual,
  generateSecret,
  hashSecret,
  matchesHash,
  platformSecret,
  sha256Hex,
} from '../../../functions/kernel/secrets.js';

describe('secrets', () => {
  it('hashes to sha256 hex and never returns the secret itself', () => {
    const secret = generateSecret('of_key');
    const hash = hashSecret(secret);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(secret);
  });

  it('generates distinct, prefixed, high-entropy secrets', () => {
    const secrets = new Set(Array.from({ length: 200 }, () => generateSecret('of_whk')));
    expect(secrets.size).toBe(200);
    for (const s of secrets) expect(s).toMatch(/^of_whk_[A-Za-z0-9_-]{43}$/);
  });

  it('compares presented secrets with stored hashes', () => {
    const secret = generateSecret('of_exp');
    expect(matchesHash(secret, hashSecret(secret))).toBe(true);
    expect(matchesHash(`${secret}x`, hashSecret(secret))).toBe(false);
    expect(matchesHash(secret, 'not-hex')).toBe(false);
    expect(matchesHash(secret, '')).toBe(false);
  });

  it('compares strings of any lengths without throwing', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'a')).toBe(false);
  });

  it('reads the documented local defaults only where no secret store runs, never on AWS', async () => {
    const names = ['ONCEFLOW_LOCAL', 'ONCEFLOW_SECRET_DEFAULTS', 'ONCEFLOW_ADMIN_KEY'] as const;
    const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    try {
      // Prepare: in-process tests and the CLI (local, no secret store).
      process.env.ONCEFLOW_LOCAL = '1';
      process.env.ONCEFLOW_SECRET_DEFAULTS = 'on';
      process.env.ONCEFLOW_ADMIN_KEY = 'k-123';
      expect(await platformSecret('adminKeyHash')).toBe(sha256Hex('k-123'));
      // A function of the local runtime: local, but its secrets come from the store it is granted.
      delete process.env.ONCEFLOW_SECRET_DEFAULTS;
      await expect(platformSecret('adminKeyHash')).rejects.toThrow(/no location/);
      // AWS.
      delete process.env.ONCEFLOW_LOCAL;
      await expect(platformSecret('adminKeyHash')).rejects.toThrow(/no location/);
    } finally {
      for (const name of names) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });
});
