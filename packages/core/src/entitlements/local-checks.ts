import type { ConfigValue } from '../plans/index.ts';
import type { EntitlementSnapshot, LimitEntitlement } from './entitlement-snapshot.ts';

// These run on every request of a vendor's app, so they only look up: no copying, no allocation.
// `Object.hasOwn` keeps keys such as "constructor" from reaching Object.prototype.

/** Whether the tenant may use `feature` now: false for an unknown feature and for an inactive tenant. */
export function hasFeature(snapshot: EntitlementSnapshot, feature: string): boolean {
  return snapshot.active && Object.hasOwn(snapshot.features, feature) && snapshot.features[feature] === true;
}

/** The tenant's limit named `key`, or `undefined` when the plan sets none (the tenant is then not limited on it). */
export function limitOf(snapshot: EntitlementSnapshot, key: string): LimitEntitlement | undefined {
  return Object.hasOwn(snapshot.limits, key) ? snapshot.limits[key] : undefined;
}

/** The tenant's value of config key `key`, or `undefined` when the plan has no such key or the tenant is inactive. */
export function configValue(snapshot: EntitlementSnapshot, key: string): ConfigValue | undefined {
  return Object.hasOwn(snapshot.config, key) ? snapshot.config[key] : undefined;
}

/** Who an access token speaks for, as the app verified it. */
export interface TokenHolder {
  readonly subject: string;
  /** The token's permissions (`perms`) in the tenant. */
  readonly permissions: readonly string[];
  /** When the token was issued (`iat`, seconds since the epoch). */
  readonly issuedAt: number;
}

/**
 * Whether the token of `subject`, issued at `issuedAt` (seconds), was issued before the user's
 * removal from the tenant: such a token no longer counts. A user invited back gets new tokens,
 * issued after the removal, which do.
 */
export function subjectRevoked(snapshot: EntitlementSnapshot, subject: string, issuedAt: number): boolean {
  const removed = snapshot.revoked_subjects;
  if (removed === undefined || !Object.hasOwn(removed, subject)) return false;
  return issuedAt * 1000 <= Date.parse(removed[subject] ?? '');
}

/**
 * Whether the holder of a verified access token may do `permission` in the tenant now: the
 * token grants it (`perms`), the tenant is active, and the user was not removed after the token
 * was issued.
 */
export function permitted(snapshot: EntitlementSnapshot, holder: TokenHolder, permission: string): boolean {
  return (
    snapshot.active &&
    holder.permissions.includes(permission) &&
    !subjectRevoked(snapshot, holder.subject, holder.issuedAt)
  );
}
