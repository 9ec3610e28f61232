import { describe, expect, it } from 'vitest';
import { DUMMY_HASH, generatePassword, hashPassword, verifyAgainstNothing, verifyPassword } from './password.js';

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

describe('hashPassword / verifyPassword', () => {
  // One hash shared by the tests below: scrypt at OWASP cost takes a few hundred milliseconds.
  const password = 'correct horse battery staple';
  const hashed = hashPassword(password);

  it('verifies the password it hashed', async () => {
    expect(await verifyPassword(password, await hashed)).toBe(true);
  });

  it('refuses a wrong password, including near misses', async () => {
    const stored = await hashed;
    for (const wrong of ['correct horse battery stapl', 'Correct horse battery staple', `${password} `, '']) {
      expect(await verifyPassword(wrong, stored), JSON.stringify(wrong)).toBe(false);
    }
  });

  it('stores the scheme and the OWASP parameters with a 16-byte salt and a 32-byte key', async () => {
    const stored = await hashed;
    expect(stored).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/);
    const [, , , , salt, key] = stored.split('$');
    expect(Buffer.from(salt ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(key ?? '', 'base64')).toHaveLength(32);
    expect(stored).not.toContain(password);
  });

  it('salts every hash: two hashes of the same password differ and both verify', async () => {
    const [a, b] = [await hashed, await hashPassword(password)];
    expect(a).not.toBe(b);
    expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
    expect(await verifyPassword(password, b)).toBe(true);
  });

  it('checks with the parameters stored in the hash, so a cheaper old hash still verifies', async () => {
    // A hash made at a lower cost (N=2^14), as an older release might have stored it.
    const { scryptSync } = await import('node:crypto');
    const salt = Buffer.from('0123456789abcdef');
    const key = scryptSync('old password', salt, 32, { N: 2 ** 14, r: 8, p: 1 });
    const old = ['scrypt', 2 ** 14, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
    expect(await verifyPassword('old password', old)).toBe(true);
    expect(await verifyPassword('old passwort', old)).toBe(false);
  });

  it('treats the password in Unicode normal form (NFKC), so visually equal input verifies', async () => {
    const composed = 'caf\u00e9-password';
    const decomposed = 'cafe\u0301-password';
    const stored = await hashPassword(composed);
    expect(await verifyPassword(decomposed, stored)).toBe(true);
  });

  it.each([
    ['an empty string', ''],
    ['another scheme', 'bcrypt$2b$12$abcdefghijklmnopqrstuv'],
    ['no salt or key', 'scrypt$131072$8$1'],
    ['no key', 'scrypt$131072$8$1$MDEyMzQ1Njc4OWFiY2RlZg=='],
    ['an empty key', 'scrypt$131072$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$'],
    ['a truncated key', 'scrypt$131072$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$AAAA'],
    ['a non-numeric cost', 'scrypt$abc$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='],
    [
      'a cost that is not a power of two',
      'scrypt$1000$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    ],
    ['a zero parallelism', 'scrypt$16384$8$0$MDEyMzQ1Njc4OWFiY2RlZg==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='],
    ['plain text', 'correct horse battery staple'],
  ])('answers false, never throws, for a malformed stored hash: %s', async (_name, stored) => {
    await expect(verifyPassword('correct horse battery staple', stored)).resolves.toBe(false);
  });

  it('checks unknown accounts against a hash of the same cost as real ones', async () => {
    const real = await hashPassword('any password at all');
    expect(DUMMY_HASH.split('$').slice(0, 4)).toEqual(real.split('$').slice(0, 4));
    expect(DUMMY_HASH.split('$')).toHaveLength(6);
  });

  it('verifyAgainstNothing always answers false', async () => {
    expect(await verifyAgainstNothing('gatehouse-timing-equaliser')).toBe(false);
    expect(await verifyAgainstNothing(password)).toBe(false);
  });
});

describe('generatePassword', () => {
  it('gives 20 characters from its readable alphabet', () => {
    for (let i = 0; i < 200; i++) {
      const generated = generatePassword();
      expect(generated).toHaveLength(20);
      for (const c of generated) expect(ALPHABET, generated).toContain(c);
    }
  });

  it('leaves out look-alike characters', () => {
    const seen = new Set(Array.from({ length: 500 }, generatePassword).join(''));
    for (const c of ['0', 'O', '1', 'l', 'I']) expect(seen.has(c), c).toBe(false);
  });

  it('uses every letter of its alphabet and never repeats a password', () => {
    const passwords = Array.from({ length: 500 }, generatePassword);
    expect(new Set(passwords).size).toBe(passwords.length);
    const seen = new Set(passwords.join(''));
    // 10,000 draws from 57 letters: missing any one by chance has odds of about 57 · (56/57)^10000 ≈ 10^-75.
    expect([...ALPHABET].filter((c) => !seen.has(c))).toEqual([]);
  });
});
