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

  it('uses the documented local defaults only in the local runtime', async () => {
    const saved = { local: process.env.ONCEFLOW_LOCAL, key: process.env.ONCEFLOW_ADMIN_KEY };
    try {
      process.env.ONCEFLOW_LOCAL = '1';
      process.env.ONCEFLOW_ADMIN_KEY = 'k-123';
      expect(await platformSecret('adminKeyHash')).toBe(sha256Hex('k-123'));
      delete process.env.ONCEFLOW_LOCAL;
      await expect(platformSecret('adminKeyHash')).rejects.toThrow(/no location/);
    } finally {
      if (saved.local === undefined) delete process.env.ONCEFLOW_LOCAL;
      else process.env.ONCEFLOW_LOCAL = saved.local;
      if (saved.key === undefined) delete process.env.ONCEFLOW_ADMIN_KEY;
      else process.env.ONCEFLOW_ADMIN_KEY = saved.key;
    }
  });
});
