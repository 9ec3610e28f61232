import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt at the OWASP Password Storage Cheat Sheet's recommended cost: N=2^17, r=8, p=1
 * (128 MiB, a few hundred milliseconds). Parameters are stored with each hash, so raising
 * the cost later does not break existing passwords.
 */
const COST = { N: 2 ** 17, r: 8, p: 1 };
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || key === undefined) return false;
  const expected = Buffer.from(key, 'base64');
  // A malformed stored hash (e.g. a cost that is not a power of two) is a failed check, not a crash.
  const actual = await derive(password, Buffer.from(salt, 'base64'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  }).catch(() => null);
  return actual !== null && actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * A hash of a random password nobody knows, at the same cost as real ones: checking against it
 * takes as long as a real check, so a missing account cannot be told from a wrong password.
 * A constant, so start-up does not spend 128 MiB and a few hundred milliseconds building one.
 */
export const DUMMY_HASH = 'scrypt$131072$8$1$Tb9FDhp78GKI3vUj7KgRQg==$nSwPZ693e6a3mhSIeaeA9XTzM7aXgWc3DkqzwF7soBY=';

export async function verifyAgainstNothing(password: string): Promise<false> {
  await verifyPassword(password, DUMMY_HASH);
  return false;
}

/** A readable one-time password for the first admin: 20 characters from a 57-letter alphabet (~116 bits). */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  // Bytes at or above the largest multiple of the alphabet's size are skipped, so every letter is equally likely.
  const limit = 256 - (256 % alphabet.length);
  const bytes = randomBytes(40);
  let out = '';
  for (const b of bytes) {
    if (b < limit) out += alphabet[b % alphabet.length];
    if (out.length === 20) break;
  }
  return out.length === 20 ? out : generatePassword();
}
