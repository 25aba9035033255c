import { readFile } from 'node:fs/promises';
import { type LicenseKeyring, type RevocationListClaims, verifyRevocationList } from '@tenantry/core';
import { LicenseError } from './license-error.ts';
import type { RevocationListSeen } from './license-state.ts';

/**
 * Reads and verifies the revocation list file. Refused, each with its reason: a list that does
 * not verify (a tampered one), one older (lower `seq`) than the newest this install has read (a
 * rollback to a list from before a revocation), and a missing file once a list has been read, so
 * that deleting the file is no way around it. Before any list was read, a missing file is none
 * yet: the vendor may configure the option before the first list arrives.
 */
export async function readRevocationList(
  file: string,
  keyring: LicenseKeyring,
  now: Date,
  seen: RevocationListSeen | null,
): Promise<RevocationListClaims | null> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && seen === null) return null;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LicenseError(
        'revocation_list_missing',
        `the revocation list ${file} is missing, though this install has read one (seq ${seen?.seq}): put the newest list back`,
      );
    }
    throw new LicenseError(
      'revocation_list_invalid',
      `cannot read the revocation list ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const verified = await verifyRevocationList(token, keyring, { now });
  if (!verified.ok) {
    throw new LicenseError(
      'revocation_list_invalid',
      `the revocation list ${file} is refused: ${verified.error.message}`,
    );
  }
  const { claims } = verified.value;
  if (seen !== null && claims.seq < seen.seq) {
    throw new LicenseError(
      'revocation_list_rollback',
      `the revocation list ${file} has seq ${claims.seq}, older than seq ${seen.seq} this install has already read: install the newest list`,
    );
  }
  return claims;
}
