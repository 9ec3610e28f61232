import { hash, randomBytes } from 'node:crypto';

/** 24 bytes from the CSPRNG: 192 bits, written as 48 lowercase hex characters. */
export const TOKEN_BYTES = 24;
export const TOKEN_PATTERN = /^[0-9a-f]{48}$/;

export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex');
}

/**
 * SHA-256 is enough here (no salt, no slow hash): the input is 192 random bits, so there is
 * nothing to guess, and a plain digest lets the server find a token with one indexed look-up.
 */
export function hashToken(token: string): string {
  // One-shot digest: about half the cost of createHash().update().digest() (Node 20.12+).
  return hash('sha256', token, 'hex');
}

/** The last four characters: enough to tell tokens apart in a list, far too few to guess the rest. */
export function tokenHint(token: string): string {
  return token.slice(-4);
}
