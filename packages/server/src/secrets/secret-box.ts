import { createHash, randomBytes } from 'node:crypto';
import { err, ok, type Result } from '@tenantry/core';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';

/** Bytes in a master key: AES-256-GCM's key. */
export const MASTER_KEY_BYTES = 32;

/** The shape of one master key: 32 bytes in base64 or base64url, padding optional. */
const MASTER_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

/** A sealed secret could not be opened: the master key that sealed it is not given, or it was tampered with. */
export class SecretUnreadableError extends Error {
  constructor(detail: string) {
    super(`a sealed secret cannot be opened: ${detail}`);
    this.name = 'SecretUnreadableError';
  }
}

/** A master key and the id sealed secrets name it by. */
interface MasterKey {
  readonly id: string;
  readonly key: Uint8Array;
}

/**
 * Seals the control plane's secrets (private signing keys, and whatever else must not lie in the
 * database in clear) with the master key, `TENANTRY_MASTER_KEY`: each becomes a compact JWE
 * (`dir`, AES-256-GCM) whose protected header names the master key's id and what the secret is
 * for. A copy of the database, or a backup of it, then holds nothing usable without the key.
 *
 * Several keys may be given, newest first: the first seals, every one opens, so the master key
 * can be rotated by putting the new one in front, resealing ({@link isCurrent} says what needs
 * it), and dropping the old one later.
 *
 * @example
 * ```ts
 * const box = new SecretBox([key]);
 * const sealed = await box.seal('signing_key:abc', privateJwkJson);
 * const opened = await box.open('signing_key:abc', sealed); // privateJwkJson
 * ```
 */
export class SecretBox {
  readonly #keys: readonly MasterKey[];

  /** `keys`: 32 bytes each, the first the one that seals. */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new RangeError('a SecretBox needs at least one master key');
    this.#keys = keys.map((key) => {
      if (key.length !== MASTER_KEY_BYTES)
        throw new RangeError(`a master key is ${MASTER_KEY_BYTES} bytes, not ${key.length}`);
      return { id: keyId(key), key: Uint8Array.from(key) };
    });
  }

  /** The id of the master key that seals: a digest prefix, which tells nothing of the key. */
  get currentKeyId(): string {
    return (this.#keys[0] as MasterKey).id;
  }

  /**
   * Seals `plaintext` for `purpose` (e.g. `signing_key:<kid>`): opening it for another purpose
   * fails, so a sealed value copied to another row is refused.
   */
  async seal(purpose: string, plaintext: string): Promise<string> {
    const current = this.#keys[0] as MasterKey;
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: current.id, purpose })
      .encrypt(current.key);
  }

  /** Opens what {@link seal} sealed for `purpose`; throws {@link SecretUnreadableError} otherwise. */
  async open(purpose: string, sealed: string): Promise<string> {
    const header = this.#header(sealed);
    if (header.purpose !== purpose)
      throw new SecretUnreadableError(
        `it was sealed for ${JSON.stringify(header.purpose)}, not ${JSON.stringify(purpose)}`,
      );
    const master = this.#keys.find((k) => k.id === header.kid);
    if (master === undefined)
      throw new SecretUnreadableError(
        `it was sealed with master key ${String(header.kid)}, which TENANTRY_MASTER_KEY does not hold ` +
          `(it holds ${this.#keys.map((k) => k.id).join(', ')})`,
      );
    try {
      const { plaintext } = await compactDecrypt(sealed, master.key, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return new TextDecoder().decode(plaintext);
    } catch {
      throw new SecretUnreadableError(`it does not decrypt under master key ${master.id}: it was altered`);
    }
  }

  /**
   * `sealed` sealed again with the master key that seals now, or `null` when it already is: what a
   * rotation of the master key asks of every stored secret. Throws, as {@link open} does, when no
   * key given opens it.
   */
  async reseal(purpose: string, sealed: string): Promise<string | null> {
    if (this.isCurrent(sealed)) return null;
    return this.seal(purpose, await this.open(purpose, sealed));
  }

  /** Whether `sealed` was sealed with the master key that seals now (else it wants resealing). */
  isCurrent(sealed: string): boolean {
    return this.#header(sealed).kid === this.currentKeyId;
  }

  #header(sealed: string): { kid?: unknown; purpose?: unknown } {
    try {
      return decodeProtectedHeader(sealed);
    } catch {
      throw new SecretUnreadableError('it is not a sealed secret (a compact JWE)');
    }
  }
}

/**
 * Reads `TENANTRY_MASTER_KEY`: one or more keys separated by commas, newest first, each 32 bytes
 * in base64 or base64url (`openssl rand -base64 32`). The error says what is wrong, never the key.
 */
export function parseMasterKeys(raw: string): Result<Uint8Array[], string> {
  const parts = raw.split(',').map((part) => part.trim());
  const keys: Uint8Array[] = [];
  for (const [index, part] of parts.entries()) {
    const which = parts.length > 1 ? `key ${index + 1} of TENANTRY_MASTER_KEY` : 'TENANTRY_MASTER_KEY';
    if (!MASTER_KEY.test(part)) {
      const found =
        part.length === 43 || part.length === 44
          ? 'it holds characters that are not base64'
          : `it has ${part.length} characters`;
      return err(
        `${which} must be ${MASTER_KEY_BYTES} random bytes in base64, 44 characters (\`openssl rand -base64 32\`): ${found}`,
      );
    }
    keys.push(Buffer.from(part.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
  }
  return ok(keys);
}

/** A new master key, as `TENANTRY_MASTER_KEY` takes it. */
export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString('base64');
}

function keyId(key: Uint8Array): string {
  return `mk_${createHash('sha256').update('tenantry master key id\0').update(key).digest('base64url').slice(0, 16)}`;
}
