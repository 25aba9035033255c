import type { JWK } from 'jose';
import { z } from 'zod';
import { err, ok, type Result } from '../result.ts';
import type { LicenseKeyring } from './license-keyring.ts';
import { signClaims, verifySignedClaims } from './signed-claims.ts';
import type { LicenseRefusalCode } from './verify-license.ts';

/**
 * The `typ` header of a module signature: signed with a license key like a license, so its own
 * `typ` keeps a module signature from passing for a license or a check-in answer, and those for it.
 */
export const MODULE_SIGNATURE_TYPE = 'tenantry-module+jwt';

/** A SHA-256 digest in lowercase hex, as `sha256sum` prints it. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What a module's name may be: a file name or a package-like name, no path separators, no control characters. */
export const MODULE_NAME = /^[A-Za-z0-9@._+-][A-Za-z0-9@._+/-]{0,199}$/;

/**
 * What the vendor signs for a private module: its name and the SHA-256 of its file's bytes. The
 * signature travels beside the module (`module.js.sig`), detached from the bytes it covers.
 */
export const ModuleSignatureClaims = z.strictObject({
  /** The module's name, as the vendor's app loads it (by default the file's name). */
  module: z.string().regex(MODULE_NAME),
  /** SHA-256 of the module file's bytes, lowercase hex. */
  sha256: z.string().regex(SHA256_HEX),
  /** When it was signed (NumericDate). */
  iat: z.int().min(0),
});

/** The claims of a module signature, as {@link ModuleSignatureClaims} parses them. */
export type ModuleSignatureClaims = z.infer<typeof ModuleSignatureClaims>;

/** Why a module signature is refused: a license-format refusal, or a signature for other bytes or another module. */
export type ModuleSignatureRefusalCode = LicenseRefusalCode | 'digest_mismatch' | 'wrong_module';

export interface ModuleSignatureRefusal {
  readonly code: ModuleSignatureRefusalCode;
  readonly message: string;
}

/** Signs a module's name and digest: a compact JWS, EdDSA, `typ` {@link MODULE_SIGNATURE_TYPE}, canonical JSON. */
export async function signModule(
  claims: ModuleSignatureClaims,
  key: { readonly kid: string; readonly privateJwk: JWK },
): Promise<string> {
  return signClaims(ModuleSignatureClaims, MODULE_SIGNATURE_TYPE, claims, key);
}

/**
 * Verifies a module signature offline against the license keyring, with the same header and
 * signature checks as a license (EdDSA only, the module `typ`, a trusted kid, no key of its own),
 * then that it names `expected.module` and the digest of `expected.sha256`: the bytes the caller
 * is about to load, hashed by the caller. Pure: no file is read here.
 */
export async function verifyModuleSignature(
  token: string,
  keyring: LicenseKeyring,
  expected: { readonly module: string; readonly sha256: string },
): Promise<Result<{ readonly claims: ModuleSignatureClaims; readonly kid: string }, ModuleSignatureRefusal>> {
  const verified = await verifySignedClaims(token.trim(), keyring, {
    typ: MODULE_SIGNATURE_TYPE,
    name: `signature of module "${expected.module}"`,
    schema: ModuleSignatureClaims,
  });
  if (!verified.ok) return verified;
  const { claims } = verified.value;
  if (claims.module !== expected.module) {
    return err({
      code: 'wrong_module',
      message: `signature is for module "${claims.module}", not "${expected.module}"`,
    });
  }
  if (claims.sha256 !== expected.sha256.toLowerCase()) {
    return err({
      code: 'digest_mismatch',
      message: `module "${expected.module}" is not the file that was signed: its SHA-256 is ${expected.sha256}, the signature's ${claims.sha256}`,
    });
  }
  return ok(verified.value);
}
