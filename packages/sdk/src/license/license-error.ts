import type { KeyringRefusalCode, LicenseRefusalCode } from '@tenantry/core';

/**
 * Why the license guard refuses to run the app:
 * - a {@link LicenseRefusalCode} or a {@link KeyringRefusalCode}: the license or a key did not verify;
 * - `license_unreadable`: the license file could not be read;
 * - `clock_rollback`: the clock is earlier than the latest time the install has already seen;
 * - `sequence_rollback`: the customer's license is older (lower `seq`) than one already seen;
 * - `expired`: past the grace days, with `restrictedMode` `refuse`;
 * - `state_unreadable`: the state file is not what the guard writes, or cannot be read or written;
 * - `revoked`: a check-in answer or the revocation list says the license was revoked;
 * - `offline_too_long`: the license's `offline_days` passed without a successful check-in;
 * - `revocation_list_invalid`: the revocation list file does not verify (the message says why);
 * - `revocation_list_missing`: the revocation list file is gone though the install has read one;
 * - `revocation_list_rollback`: the revocation list is older (lower `seq`) than one already read;
 * - `install_mismatch`: the license is bound to another install than this one.
 */
export type LicenseErrorCode =
  | LicenseRefusalCode
  | KeyringRefusalCode
  | 'license_unreadable'
  | 'clock_rollback'
  | 'sequence_rollback'
  | 'expired'
  | 'state_unreadable'
  | 'revoked'
  | 'offline_too_long'
  | 'revocation_list_invalid'
  | 'revocation_list_missing'
  | 'revocation_list_rollback'
  | 'install_mismatch';

/** The license guard refuses to run the app; the message is one line: `license refused: <why>`. */
export class LicenseError extends Error {
  override readonly name = 'LicenseError';
  readonly code: LicenseErrorCode;

  constructor(code: LicenseErrorCode, reason: string, options?: ErrorOptions) {
    super(`license refused: ${reason}`, options);
    this.code = code;
  }
}
