import { type DomainError, fail } from '../errors.ts';
import { err, ok, type Result } from '../result.ts';
import type { EntitlementSnapshot, LimitEntitlement } from './entitlement-snapshot.ts';

/**
 * Why a tenant may not use `meter` at all now, whatever its limit: the tenant is not active, or
 * the plan ties the meter to a feature the tenant's plan (after overrides) does not enable.
 * `null` when it may. The SDK checks it locally before leasing or acquiring, the control plane
 * again when it grants, so both refuse with the same words.
 */
export function meterUseRefusal(snapshot: EntitlementSnapshot, meter: string): DomainError | null {
  if (!snapshot.active) {
    return {
      code: 'tenant_inactive',
      detail: `tenant ${snapshot.tenant_id} is ${snapshot.state} and may not use "${meter}"`,
      details: { state: snapshot.state },
    };
  }
  const features = snapshot.meter_features;
  const feature = features !== undefined && Object.hasOwn(features, meter) ? features[meter] : undefined;
  if (feature !== undefined && !(Object.hasOwn(snapshot.features, feature) && snapshot.features[feature])) {
    return {
      code: 'feature_disabled',
      detail: `tenant ${snapshot.tenant_id}'s plan does not enable feature "${feature}", which meter "${meter}" needs`,
      details: { meter, feature },
    };
  }
  return null;
}

/** Where a limit applies: to the tenant as a whole, or to each subject (a user, a workspace). */
export type LimitScope = 'tenant' | 'subject';

/**
 * The refusal of a request that would take nothing of a limit: `limit_exhausted`, naming the
 * meter, the limit, what is used and where the limit applies (never one instance's share: a
 * limit is the tenant's, or each subject's, across every instance).
 */
export function limitExhausted(input: {
  readonly tenantId: string;
  readonly meter: string;
  readonly limit: number;
  readonly used: number;
  readonly scope: LimitScope;
  readonly subject?: string;
  /** How the limit counts: held now (a gauge) or used this period. */
  readonly kind: 'gauge' | 'metered';
}): DomainError {
  const how = input.kind === 'gauge' ? 'holds' : 'has used';
  const when = input.kind === 'gauge' ? 'at once' : 'this period';
  const who =
    input.scope === 'subject'
      ? `subject "${input.subject}" of tenant ${input.tenantId} ${how} ${input.used} of the ${input.limit} "${input.meter}" each subject may hold ${when}`
      : `tenant ${input.tenantId} ${how} ${input.used} of its ${input.limit} "${input.meter}" ${when}, across every instance`;
  return {
    code: 'limit_exhausted',
    detail: who,
    details: {
      meter: input.meter,
      limit: input.limit,
      used: input.used,
      scope: input.scope,
      ...(input.subject === undefined ? {} : { subject: input.subject }),
    },
  };
}

/** The slots of one meter open now, before the one asked for: the tenant's and the subject's. */
export interface OpenSlots {
  /** The gauge's level for the tenant: open slots plus the level its usage events report. */
  readonly pool: number;
  /** Open slots of the subject asking; 0 without a subject. */
  readonly subject: number;
}

/**
 * Whether one more slot of a gauge may be opened, given the tenant's `limit` on it (`undefined`:
 * not limited) and what is open now. A hard limit refuses at the tenant's pool and, when the plan
 * caps each subject, at the subject's cap; a soft limit admits with `overage`. Pure, so that the
 * control plane's decision under its lock and any check an SDK makes agree.
 */
export function admitSlot(input: {
  readonly tenantId: string;
  readonly meter: string;
  readonly subject: string | null;
  readonly limit: LimitEntitlement | undefined;
  readonly open: OpenSlots;
}): Result<{ readonly overage: boolean }, DomainError> {
  const { limit, open, subject } = input;
  if (limit === undefined) return ok({ overage: false });
  if (limit.kind !== 'gauge') {
    return fail('validation_failed', `"${input.meter}" is not a gauge: slots hold a level, not a total`, {
      errors: [{ path: 'meter', message: `is a ${limit.kind} limit; use a lease for it` }],
    });
  }
  if (limit.per_subject !== undefined && subject === null) {
    return fail('validation_failed', `the plan caps "${input.meter}" per subject: name the subject`, {
      errors: [{ path: 'subject', message: `is required: "${input.meter}" is capped per subject` }],
    });
  }
  const overPool = limit.limit !== null && open.pool + 1 > limit.limit;
  const overSubject = limit.per_subject !== undefined && open.subject + 1 > limit.per_subject;
  if (!overPool && !overSubject) return ok({ overage: false });
  if (limit.enforcement === 'soft') return ok({ overage: true });
  const base = { tenantId: input.tenantId, meter: input.meter, kind: 'gauge' as const };
  // The cap the subject hit is the more useful answer: other subjects may still open slots.
  const refusal =
    overSubject && limit.per_subject !== undefined && subject !== null
      ? limitExhausted({ ...base, limit: limit.per_subject, used: open.subject, scope: 'subject', subject })
      : limitExhausted({ ...base, limit: limit.limit ?? 0, used: open.pool, scope: 'tenant' });
  return err(refusal);
}
