import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { writeFileDurably } from '../durable-file.ts';

/**
 * Who a self-hosted install is: an id and an Ed25519 key pair, made at its first start and kept
 * in its state directory. The key signs the install's usage reports (and check-ins); the public
 * half travels with them, so the vendor can tell one install's reports from another's.
 */
export interface InstallIdentity {
  /** `inst_` and 32 hex digits. */
  readonly id: string;
  /** When the install first started (ISO 8601 UTC): the anchor of its usage periods. */
  readonly createdAt: string;
  /** The public half, as a bare Ed25519 JWK (`kty`, `crv`, `x`): what a usage report carries. */
  readonly publicJwk: JWK;
  /** The private half, as a JWK; the file holding it is mode 0600. */
  readonly privateJwk: JWK;
}

/** The identity file in the state directory. */
export const INSTALL_FILE = 'install.json';

const FORMAT = 1;
const INSTALL_ID = /^inst_[0-9a-f]{32}$/;

/** The install's identity file is there but is not what {@link openInstallIdentity} writes. */
export class InstallIdentityError extends Error {
  override readonly name = 'InstallIdentityError';
}

/**
 * The install's identity from `stateDirectory`, made there at the first start. A file that is
 * there but unreadable or corrupt is refused, never replaced: a new key would fork the chain of
 * the install's usage reports, and the vendor would see a second install.
 *
 * @throws {InstallIdentityError} the identity file is corrupt; restore it from a backup.
 */
export async function openInstallIdentity(
  stateDirectory: string,
  now: () => Date = () => new Date(),
): Promise<InstallIdentity> {
  const existing = await readInstallIdentity(stateDirectory);
  if (existing !== undefined) return existing;
  const file = join(stateDirectory, INSTALL_FILE);
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const id = `inst_${randomUUID().replaceAll('-', '')}`;
  const identity: InstallIdentity = {
    id,
    createdAt: now().toISOString(),
    // jose exports an Ed25519 key as `kty`, `crv`, `x` (and `d`), nothing more.
    publicJwk: await exportJWK(publicKey),
    privateJwk: await exportJWK(privateKey),
  };
  await mkdir(stateDirectory, { recursive: true, mode: 0o700 });
  const body = {
    format: FORMAT,
    id,
    created_at: identity.createdAt,
    public_jwk: identity.publicJwk,
    private_jwk: identity.privateJwk,
  };
  await writeFileDurably(file, `${JSON.stringify(body, null, 2)}\n`, {
    temp: `${file}.${process.pid}-${randomUUID()}.tmp`,
    mode: 0o600,
  });
  return identity;
}

/**
 * The install's identity from `stateDirectory`, or undefined when it has none yet.
 *
 * @throws {InstallIdentityError} the identity file is unreadable or corrupt.
 */
export async function readInstallIdentity(stateDirectory: string): Promise<InstallIdentity | undefined> {
  const file = join(stateDirectory, INSTALL_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InstallIdentityError(`cannot read the install identity ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const parsed = await parseIdentity(text);
  if (typeof parsed === 'string') {
    throw new InstallIdentityError(
      `the install identity ${file} is corrupt (${parsed}); it is not made anew, as a new key would fork the install's usage reports: restore it from a backup`,
    );
  }
  return parsed;
}

async function parseIdentity(text: string): Promise<InstallIdentity | string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const body = value as Record<string, unknown>;
  if (body.format !== FORMAT) return `format ${JSON.stringify(body.format)}, not ${FORMAT}`;
  if (typeof body.id !== 'string' || !INSTALL_ID.test(body.id)) return 'id is not an install id';
  if (typeof body.created_at !== 'string' || Number.isNaN(Date.parse(body.created_at)))
    return 'created_at is not a time';
  const publicJwk = body.public_jwk as JWK | undefined;
  const privateJwk = body.private_jwk as JWK | undefined;
  if (!isEd25519(publicJwk) || Object.keys(publicJwk).length !== 3)
    return 'public_jwk is not a bare Ed25519 public key';
  if (!isEd25519(privateJwk) || typeof privateJwk.d !== 'string' || privateJwk.x !== publicJwk.x)
    return 'private_jwk is not the private half of public_jwk';
  try {
    // Imported to prove the halves are keys, not merely shaped like them.
    await importJWK(publicJwk, 'EdDSA');
    await importJWK(privateJwk, 'EdDSA');
  } catch (error) {
    return `the key does not import: ${(error as Error).message}`;
  }
  return { id: body.id, createdAt: body.created_at, publicJwk, privateJwk };
}

function isEd25519(jwk: JWK | undefined): jwk is JWK {
  return (
    typeof jwk === 'object' &&
    jwk !== null &&
    jwk.kty === 'OKP' &&
    jwk.crv === 'Ed25519' &&
    typeof jwk.x === 'string'
  );
}
