/**
 * Licenses for self-hosted installs: the claims a license carries, its signing and its offline
 * verification against the public keys a release trusts.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: entitlements/, plans/, rate-limits/, shared modules.
 */
export {
  CHECK_IN_RESPONSE_TYPE,
  CheckInResponseClaims,
  signCheckInResponse,
  verifyCheckInResponse,
} from './check-in-response.ts';
export {
  LICENSE_ID_PATTERN,
  LICENSE_TYPE,
  LicenseClaims,
  type LicenseEntitlements,
  licenseEntitlements,
} from './license-claims.ts';
export {
  type KeyringRefusal,
  type KeyringRefusalCode,
  type LicenseKeyring,
  type LicensePublicKey,
  licenseKeyring,
} from './license-keyring.ts';
export {
  MODULE_NAME,
  MODULE_SIGNATURE_TYPE,
  ModuleSignatureClaims,
  type ModuleSignatureRefusal,
  type ModuleSignatureRefusalCode,
  SHA256_HEX,
  signModule,
  verifyModuleSignature,
} from './module-signature.ts';
export {
  MAX_REVOCATION_LIST_BYTES,
  REVOCATION_LIST_TYPE,
  RevocationListClaims,
  signRevocationList,
  verifyRevocationList,
} from './revocation-list.ts';
export { signLicense } from './sign-license.ts';
export { CHECK_IN_CLOCK_SKEW_SECONDS } from './signed-claims.ts';
export {
  type ClaimsRefusal,
  type LicenseRefusal,
  type LicenseRefusalCode,
  MAX_LICENSE_BYTES,
  parseClaims,
  type VerifiedLicense,
  verifyLicense,
  verifySignedJws,
} from './verify-license.ts';
