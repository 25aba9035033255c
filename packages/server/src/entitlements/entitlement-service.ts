import { createHash } from 'node:crypto';
import {
  billingPeriod,
  canonicalJson,
  type DomainError,
  type EntitlementSnapshot,
  entitlesUse,
  evaluateEntitlements,
  ok,
  type Result,
  type TenantOverrides,
  type TenantState,
} from '@tenantry/core';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { type TenantRecord, type TenantService, tenantNotFound } from '../tenants/index.ts';
import { MAX_TOKEN_TTL_SECONDS } from '../tokens/index.ts';
import { nextSlotLapse, periodUsage, usageKey } from '../usage/index.ts';

/**
 * The users removed from tenant `tenantId` since `since`, each with when (ISO 8601 UTC); the
 * latest removal of a user when there were several.
 */
export type RevokedSubjects = (tenantId: string, since: Date) => Promise<Record<string, string>>;

/** A snapshot with its version: a hash of its content, also sent as the ETag. */
export interface VersionedSnapshot {
  readonly snapshot: EntitlementSnapshot & { version: string };
  readonly etag: string;
}

interface CacheEntry {
  readonly value: VersionedSnapshot;
  /** The snapshot is recomputed at this time even without a change: a period or trial ends. */
  readonly validUntil: number;
}

/** Cached snapshots kept at most; the oldest are dropped first. */
const CACHE_LIMIT = 50_000;

/**
 * Entitlement snapshots per tenant. Reads are served from memory: a snapshot is computed once
 * from plan, overrides and state, then kept until the tenant changes, until the period or trial
 * it depends on ends, or until `maxAgeMs` passes. Changes made in this process drop the entry at
 * once; changes made by another process arrive as a notification a moment after they commit
 * ({@link followTenantChanges}), and `maxAgeMs` bounds the staleness should one be missed while
 * the listening connection was down. Entries expire at jittered times, so snapshots cached
 * together are not all rebuilt together, and concurrent reads of a missing snapshot share one
 * rebuild.
 */
export class EntitlementService {
  readonly #db: Kysely<Schema>;
  readonly #tenants: TenantService;
  readonly #clock: Clock;
  readonly #maxAgeMs: number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #building = new Map<string, Promise<Result<VersionedSnapshot, DomainError>>>();
  /** Bumped by every invalidation, so a rebuild that read the tenant before a change is not kept. */
  readonly #generation = new Map<string, number>();

  /** The users removed from a tenant since an instant, by when; see {@link RevokedSubjects}. */
  readonly #revokedSubjects: RevokedSubjects | undefined;

  /**
   * `revokedSubjects`: where the snapshot learns of members removed lately, so that apps refuse
   * their access tokens before these expire (the members feature's removals).
   */
  constructor(
    db: Kysely<Schema>,
    tenants: TenantService,
    clock: Clock,
    maxAgeMs: number,
    revokedSubjects?: RevokedSubjects,
  ) {
    this.#revokedSubjects = revokedSubjects;
    this.#db = db;
    this.#tenants = tenants;
    this.#clock = clock;
    this.#maxAgeMs = maxAgeMs;
  }

  /** The tenant's current snapshot, by id or slug. */
  async get(idOrSlug: string): Promise<Result<VersionedSnapshot, DomainError>> {
    const cached = this.#cache.get(idOrSlug);
    if (cached && cached.validUntil > this.#clock.now().getTime()) return ok(cached.value);
    const pending = this.#building.get(idOrSlug);
    if (pending) return pending;
    const build = this.#build(idOrSlug).finally(() => {
      if (this.#building.get(idOrSlug) === build) this.#building.delete(idOrSlug);
    });
    this.#building.set(idOrSlug, build);
    return build;
  }

  /**
   * The tenant's snapshot computed now, whatever is cached, for a reader that must not act on a
   * change another process committed a moment ago and announced after (signing a license). The
   * result replaces the cached one.
   */
  fresh(idOrSlug: string): Promise<Result<VersionedSnapshot, DomainError>> {
    return this.#build(idOrSlug);
  }

  async #build(idOrSlug: string): Promise<Result<VersionedSnapshot, DomainError>> {
    const wall = this.#clock.now();
    const generation = this.#generation.get(idOrSlug) ?? 0;
    const record = await this.#tenants.record(idOrSlug);
    if (!record) return tenantNotFound(idOrSlug);
    // A test tenant is evaluated at its test clock's time; its clock's advances announce it changed.
    const now = record.clock_time ?? wall;
    const state = record.state as TenantState;
    // Removals within the longest access-token life: a token issued before one still verifies, so
    // the snapshot tells apps not to count it. Wall-clock time, as tokens' `iat` is. Read beside
    // the usage, not after it: a snapshot build waits for one round trip, not two.
    const revoking: Promise<Record<string, string>> | Record<string, string> =
      entitlesUse(state) && this.#revokedSubjects
        ? this.#revokedSubjects(record.id, new Date(wall.getTime() - MAX_TOKEN_TTL_SECONDS * 1000))
        : {};
    const [usage, revoked] = await Promise.all([this.#usage(record, now), revoking]);
    const snapshot = evaluateEntitlements({
      usage,
      tenantId: record.id,
      state,
      seats: record.seats,
      plan: { key: record.plan_key, version: record.plan_version, definition: record.definition },
      overrides: record.overrides as TenantOverrides,
      billingAnchor: record.billing_anchor,
      trialEndsAt: record.trial_ends_at,
      now,
    });
    const removals = Object.values(revoked).map((at) => Date.parse(at));
    const full: EntitlementSnapshot =
      removals.length === 0 ? snapshot : { ...snapshot, revoked_subjects: revoked };
    const version = createHash('sha256').update(canonicalJson(full)).digest('base64url').slice(0, 22);
    const value: VersionedSnapshot = { snapshot: { ...full, version }, etag: `"${version}"` };
    const jitter = 0.8 + Math.random() * 0.2;
    const deadlines = [wall.getTime() + this.#maxAgeMs * jitter];
    // The oldest removal leaves the list when no token issued before it can still be alive.
    if (removals.length > 0) deadlines.push(Math.min(...removals) + MAX_TOKEN_TTL_SECONDS * 1000);
    // Deadlines in the wall clock's time: a test tenant's period end and trial end are in its clock's.
    if (record.clock_time === null) {
      deadlines.push(Date.parse(snapshot.period.end));
      if (record.trial_ends_at && record.trial_ends_at > now) deadlines.push(record.trial_ends_at.getTime());
    }
    // Slots stop counting when their holder misses its heartbeat, with nothing announced then;
    // holders' heartbeats run on the wall clock.
    if (Object.values(snapshot.limits).some((limit) => limit.kind === 'gauge')) {
      const lapse = await nextSlotLapse(this.#db, record.id, wall);
      if (lapse !== null) deadlines.push(lapse.getTime());
    }
    if ((this.#generation.get(record.id) ?? 0) !== generation) return ok(value);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value as string);
    // Cached under the id only: a slug can pass to another tenant once its owner is deleted.
    this.#cache.set(record.id, { value, validUntil: Math.min(...deadlines) });
    return ok(value);
  }

  /** The current-period usage of every meter the tenant's plan or overrides limit. */
  async #usage(record: TenantRecord, now: Date): Promise<Record<string, number>> {
    const period = billingPeriod(record.billing_anchor, record.definition.interval, now);
    const limited = new Set([
      ...Object.keys(record.definition.limits),
      ...Object.keys((record.overrides as TenantOverrides).limits ?? {}),
    ]);
    const requests = [...limited].flatMap((key) => {
      const meter = record.definition.meters[key];
      return meter
        ? [
            {
              tenantId: record.id,
              meter: key,
              aggregation: meter.aggregation,
              start: period.start,
              end: period.end,
            },
          ]
        : [];
    });
    if (requests.length === 0) return {};
    const usage = await periodUsage(this.#db, requests, this.#clock.now());
    return Object.fromEntries(requests.map((r) => [r.meter, usage.get(usageKey(r)) ?? 0]));
  }

  /** Forgets the tenant's snapshot; the next read computes it afresh. */
  invalidate(tenantId: string): void {
    this.#cache.delete(tenantId);
    this.#generation.set(tenantId, (this.#generation.get(tenantId) ?? 0) + 1);
    // A rebuild under way may have read the tenant before the change: later reads start afresh.
    this.#building.delete(tenantId);
  }
}
