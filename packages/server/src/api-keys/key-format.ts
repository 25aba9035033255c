import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * The format of API key secrets, after GitHub's tokens: a prefix naming what the key is, 30
 * random base62 characters (178 bits) and 6 base62 characters of a CRC32 over everything before
 * them. The prefix lets secret scanners find a leaked key and say how bad the leak is; the
 * checksum lets them (and the server, before any database lookup) tell a real key from a typo or
 * a look-alike, offline.
 *
 * - `tnt_sk_…`: an operator key, which may do everything;
 * - `tnt_rk_…`: a restricted key, which holds a listed set of scopes.
 *
 * Keys created before this format (`tnt_op_` and base64url, without a checksum), and a
 * `TENANTRY_BOOTSTRAP_TOKEN` made by hand in that format, stay valid until revoked: they are
 * looked up like any other key, they only cannot be checked offline. Rolling such a key gives it
 * a secret in this format.
 */
export const KEY_PREFIXES = { operator: 'tnt_sk_', restricted: 'tnt_rk_' } as const;

/** The prefix of keys made before the checksummed format; always operator keys. */
export const LEGACY_KEY_PREFIX = 'tnt_op_';

/** What a key may do: everything (operator) or a listed set of scopes (restricted). */
export type KeyKind = keyof typeof KEY_PREFIXES;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_CHARS = 30;
const CHECKSUM_CHARS = 6; // 62^6 > 2^32
const PREFIX_LENGTH = KEY_PREFIXES.operator.length;
/** A key of the earlier format: 128 random bits or more, base64url. */
const LEGACY = new RegExp(`^${LEGACY_KEY_PREFIX}[A-Za-z0-9_-]{22,}$`);
/** Every key in the current format, and nothing else. */
const CURRENT = new RegExp(`^tnt_[sr]k_[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`);

function checksumOf(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out = BASE62.charAt(n % 62) + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A new secret for a key of `kind`. */
export function generateSecret(kind: KeyKind): string {
  let body = KEY_PREFIXES[kind];
  for (let i = 0; i < RANDOM_CHARS; i++) body += BASE62.charAt(randomInt(62));
  return body + checksumOf(body);
}

/**
 * What a presented secret looks like, without asking anyone: `current` when it is in the
 * checksummed format and its checksum holds, `legacy` when it is in the format of keys made
 * before (only the database can tell), `invalid` otherwise (a typo, a truncated key, a forgery).
 */
export function secretFormat(secret: string): 'current' | 'legacy' | 'invalid' {
  if (LEGACY.test(secret)) return 'legacy';
  if (!CURRENT.test(secret)) return 'invalid';
  const body = secret.slice(0, -CHECKSUM_CHARS);
  return checksumOf(body) === secret.slice(-CHECKSUM_CHARS) ? 'current' : 'invalid';
}

/** How many characters of a secret are shown in listings: the prefix and 4 more. */
export function displayPrefixOf(secret: string): string {
  return secret.slice(0, PREFIX_LENGTH + 4);
}
