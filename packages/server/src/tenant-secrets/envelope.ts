import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretBox } from '../secrets/index.ts';

/** Bytes in a tenant's data key: AES-256-GCM's key. */
const DATA_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * What a tenant's sealed data key is bound to (the SecretBox purpose, authenticated in the JWE's
 * protected header): a sealed key copied into another tenant's row does not open there.
 */
export function dataKeyPurpose(tenantId: string): string {
  return `tenant_data_key:${tenantId}`;
}

/** A new data key, sealed with the master key for `tenantId`. */
export async function newSealedDataKey(secrets: SecretBox, tenantId: string): Promise<string> {
  return secrets.seal(dataKeyPurpose(tenantId), randomBytes(DATA_KEY_BYTES).toString('base64url'));
}

/** Opens a tenant's sealed data key; throws SecretUnreadableError when it is not that tenant's, or altered. */
export async function openDataKey(secrets: SecretBox, tenantId: string, sealed: string): Promise<Buffer> {
  return Buffer.from(await secrets.open(dataKeyPurpose(tenantId), sealed), 'base64url');
}

/**
 * The associated data a secret's ciphertext is bound to: its tenant, name and version. AES-GCM
 * authenticates it with the ciphertext, so a ciphertext copied (by SQL, from a backup) to another
 * name, or restored over a later version, fails to decrypt; one copied to another tenant meets
 * another data key and another binding. The parts are separated by NUL, which none may hold.
 */
export function secretBinding(tenantId: string, name: string, version: number): Buffer {
  return Buffer.from(`tenantry.tenant_secret.v1\0${tenantId}\0${name}\0${version}`, 'utf8');
}

/**
 * Encrypts `plaintext` under `dataKey` with AES-256-GCM, bound to `binding`: base64url of a
 * random 96-bit nonce, the ciphertext and the 128-bit tag. A nonce is drawn per encryption: a
 * tenant rotating a secret a million times stays far below the 2^32 messages per key at which
 * random nonces start to risk repeating.
 */
export function encryptValue(dataKey: Uint8Array, binding: Uint8Array, plaintext: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(binding);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
}

/**
 * The plaintext of what {@link encryptValue} encrypted under `dataKey` with `binding`, or null
 * when it does not authenticate: another key, another binding, or altered.
 */
export function decryptValue(dataKey: Uint8Array, binding: Uint8Array, ciphertext: string): string | null {
  const bytes = Buffer.from(ciphertext, 'base64url');
  if (bytes.length < NONCE_BYTES + TAG_BYTES) return null;
  const decipher = createDecipheriv('aes-256-gcm', dataKey, bytes.subarray(0, NONCE_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(binding);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    // final() throws exactly when the tag does not authenticate: the answer is "not this".
    return null;
  }
}
