import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, TOKEN_PATTERN, tokenHint } from './token.js';

describe('token format', () => {
  it('is 48 lowercase hex characters and unique over 100,000 tokens', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const token = generateToken();
      expect(TOKEN_PATTERN.test(token)).toBe(true);
      seen.add(token);
    }
    expect(seen.size).toBe(100_000);
    expect(TOKEN_PATTERN.source).toBe('^[0-9a-f]{48}$');
  });

  it('uses every hex digit, so the generator is not stuck on a subset', () => {
    const chars = new Set(Array.from({ length: 50 }, generateToken).join(''));
    expect([...chars].sort().join('')).toBe('0123456789abcdef');
  });

  it('stores a SHA-256 hex digest that does not contain the token', () => {
    const token = generateToken();
    const hash = hashToken(token);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(hashToken(token));
    expect(hash).not.toContain(token);
    expect(hashToken(generateToken())).not.toBe(hash);
  });

  it('hints with the last four characters only', () => {
    const token = generateToken();
    expect(tokenHint(token)).toBe(token.slice(44));
    expect(tokenHint(token)).toHaveLength(4);
  });
});
