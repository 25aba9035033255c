/**
 * The format of tenant API keys: the keys the vendor's customers call the vendor's own API with
 * (not Tenantry's operator keys). After GitHub's tokens:
 *
 * `<prefix><32 random base62 characters><6 base62 characters of CRC32(prefix + random)>`
 *
 * - the prefix is the vendor's (`mins_live_`): lowercase letters, digits and underscores, ending
 *   with `_`, so that secret scanners find a leaked key by it and say whose it is;
 * - 32 base62 characters carry 190 random bits (62^32 ≈ 2^190.5), well past the 128 a guesser
 *   would need to beat;
 * - the checksum lets anyone tell a real key from a typo, a truncated key or a look-alike, offline
 *   and before any lookup ({@link looksLikeTenantKey}). It is not a signature: it proves nothing
 *   about who made the key, only that it was not mistyped.
 *
 * Pure: the randomness comes from the caller ({@link formatTenantKey}), the hash is the caller's.
 */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 characters in a key: 190 bits. */
export const TENANT_KEY_RANDOM_CHARS = 32;

/** Base62 characters of the checksum: 62^6 > 2^32, so every CRC32 fits. */
export const TENANT_KEY_CHECKSUM_CHARS = 6;

/** The longest prefix a vendor may choose, underscore included. */
export const TENANT_KEY_PREFIX_MAX = 32;

/**
 * What a vendor's prefix must be: a lowercase letter, then lowercase letters, digits and
 * underscores, ending with `_`; at most {@link TENANT_KEY_PREFIX_MAX} characters.
 */
export const TENANT_KEY_PREFIX_PATTERN = /^[a-z][a-z0-9_]{0,30}_$/;

/** The prefix of Tenantry's own operator keys, which a tenant key's must not start with. */
const RESERVED_PREFIX = 'tnt_';

/**
 * A key in the format, whatever its prefix (the checksum is not checked by a pattern): for secret
 * scanners, which then confirm a match with {@link looksLikeTenantKey}. The random part and the
 * checksum hold no underscore, so the prefix is everything up to the last `_`.
 */
export const TENANT_KEY_PATTERN = new RegExp(
  `^[a-z][a-z0-9_]{0,30}_[0-9A-Za-z]{${TENANT_KEY_RANDOM_CHARS + TENANT_KEY_CHECKSUM_CHARS}}$`,
);

/** Why `prefix` cannot be a vendor's key prefix, or null when it can. */
export function tenantKeyPrefixProblem(prefix: string): string | null {
  if (!TENANT_KEY_PREFIX_PATTERN.test(prefix)) {
    return (
      `a tenant key prefix is a lowercase letter, then lowercase letters, digits and underscores, ending with "_", ` +
      `at most ${TENANT_KEY_PREFIX_MAX} characters (e.g. "mins_live_"), not "${prefix}"`
    );
  }
  if (prefix.startsWith(RESERVED_PREFIX)) {
    return `a tenant key prefix may not start with "${RESERVED_PREFIX}", which Tenantry's own operator keys use`;
  }
  return null;
}

/** CRC-32 (IEEE 802.3, as zlib's) of a string's UTF-16 code units below 256: keys are ASCII. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The checksum characters of a key whose prefix and random part are `body`. */
function checksumOf(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < TENANT_KEY_CHECKSUM_CHARS; i++) {
    out = BASE62.charAt(n % 62) + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/**
 * A key from its prefix and {@link TENANT_KEY_RANDOM_CHARS} random numbers from 0 to 61 (drawn
 * by the caller, uniformly, from a cryptographic source).
 *
 * @throws {RangeError} a prefix that is not valid, or random numbers of the wrong count or range.
 */
export function formatTenantKey(prefix: string, random: readonly number[]): string {
  const problem = tenantKeyPrefixProblem(prefix);
  if (problem !== null) throw new RangeError(problem);
  if (
    random.length !== TENANT_KEY_RANDOM_CHARS ||
    random.some((n) => !Number.isInteger(n) || n < 0 || n > 61)
  )
    throw new RangeError(`a tenant key takes ${TENANT_KEY_RANDOM_CHARS} random numbers from 0 to 61`);
  let body = prefix;
  for (const n of random) body += BASE62.charAt(n);
  return body + checksumOf(body);
}

/** A key taken apart; only {@link parseTenantKey} makes one, after its checksum held. */
export interface ParsedTenantKey {
  /** The vendor's prefix, `_` included. */
  readonly prefix: string;
  /** The key's last four characters, which listings show to tell keys apart. */
  readonly lastFour: string;
}

/**
 * The key's parts when `text` is in the format and its checksum holds, else null (a typo, a
 * truncated key, a forgery that did not bother with the checksum, or something else entirely).
 */
export function parseTenantKey(text: string): ParsedTenantKey | null {
  if (!TENANT_KEY_PATTERN.test(text)) return null;
  const body = text.slice(0, -TENANT_KEY_CHECKSUM_CHARS);
  if (checksumOf(body) !== text.slice(-TENANT_KEY_CHECKSUM_CHARS)) return null;
  const prefix = text.slice(0, text.length - TENANT_KEY_RANDOM_CHARS - TENANT_KEY_CHECKSUM_CHARS);
  return { prefix, lastFour: text.slice(-4) };
}

/**
 * Whether `text` is a tenant API key: in the format, with a checksum that holds. Offline and
 * without knowing the vendor: what a secret scanner runs on a match of {@link TENANT_KEY_PATTERN}.
 */
export function looksLikeTenantKey(text: string): boolean {
  return parseTenantKey(text) !== null;
}
