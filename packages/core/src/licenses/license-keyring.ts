import type { JWK } from 'jose';
import { err, ok, type Result } from '../result.ts';

/** An Ed25519 public key as a license verifier trusts it: nothing but what verification needs. */
export interface LicensePublicKey {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
}

/**
 * The public keys a release trusts for licenses, by key id: those built into the release and
 * those configured beside them. A new signing key is rolled out by shipping or configuring its
 * public half under a new kid before licenses signed with it are issued.
 */
export interface LicenseKeyring {
  readonly keys: ReadonlyMap<string, LicensePublicKey>;
}

/** Why a key cannot be trusted for licenses. */
export type KeyringRefusalCode =
  | 'key_not_ed25519'
  | 'key_without_kid'
  | 'private_key'
  | 'key_malformed'
  | 'duplicate_kid';

export interface KeyringRefusal {
  readonly code: KeyringRefusalCode;
  readonly message: string;
}

// 32 bytes of base64url without padding: 42 characters and a last one whose 2 spare bits are 0.
const ED25519_X = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * A keyring from JWKs. Each must be an Ed25519 public key (`kty` OKP, `crv` Ed25519) with a kid
 * of its own; a key with a private part (`d`) is refused, so that a signing key never ships as a
 * trust root, and so is any key declared for another algorithm or use.
 */
export function licenseKeyring(jwks: readonly JWK[]): Result<LicenseKeyring, KeyringRefusal> {
  const keys = new Map<string, LicensePublicKey>();
  for (const [index, jwk] of jwks.entries()) {
    const name = typeof jwk.kid === 'string' && jwk.kid !== '' ? `key "${jwk.kid}"` : `key ${index}`;
    if (jwk.d !== undefined) {
      return err({
        code: 'private_key',
        message: `${name} is a private key: configure its public half only (drop "d")`,
      });
    }
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') {
      return err({
        code: 'key_not_ed25519',
        message: `${name} is ${describeKeyType(jwk)}, not an Ed25519 key (kty "OKP", crv "Ed25519")`,
      });
    }
    if (typeof jwk.kid !== 'string' || jwk.kid === '') {
      return err({ code: 'key_without_kid', message: `${name} has no kid: licenses name their key by kid` });
    }
    if (typeof jwk.x !== 'string' || !ED25519_X.test(jwk.x)) {
      return err({ code: 'key_malformed', message: `${name} has no valid x: 32 bytes in base64url` });
    }
    if ((jwk.alg !== undefined && jwk.alg !== 'EdDSA') || (jwk.use !== undefined && jwk.use !== 'sig')) {
      return err({
        code: 'key_malformed',
        message: `${name} is declared for ${jwk.alg ?? jwk.use}, not EdDSA signatures`,
      });
    }
    if (keys.has(jwk.kid)) {
      return err({
        code: 'duplicate_kid',
        message: `kid "${jwk.kid}" names two keys: each key needs a kid of its own`,
      });
    }
    keys.set(jwk.kid, Object.freeze({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: jwk.kid }));
  }
  return ok({ keys });
}

function describeKeyType(jwk: JWK): string {
  if (typeof jwk.kty !== 'string') return 'a key without kty';
  return typeof jwk.crv === 'string' ? `an ${jwk.kty} ${jwk.crv} key` : `an ${jwk.kty} key`;
}
