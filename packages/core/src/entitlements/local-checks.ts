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
