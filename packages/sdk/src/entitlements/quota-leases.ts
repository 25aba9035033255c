import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Schemas } from '@tenantry/core/api';
import {
  type ControlPlaneClient,
  ControlPlaneError,
  ControlPlaneUnreachableError,
} from '../control-plane/index.ts';

/** Why {@link QuotaLeases.consume} refused. */
export type ConsumeRefusal =
  | 'limit_exhausted'
  | 'feature_disabled'
  | 'tenant_inactive'
  | 'control_plane_unreachable';

/**
 * The answer of `consume()`: allowed (past a soft limit: with `overage`), or refused with the
 * reason. A hard limit is never passed: when the control plane cannot be reached and the local
 * lease is spent, use is refused.
 */
export type ConsumeResult =
  | { readonly allowed: true; readonly overage: boolean }
  | { readonly allowed: false; readonly reason: ConsumeRefusal; readonly detail: string };

/** How `consume()` leases units. */
export interface LeaseOptions {
  /**
   * Units leased at a time (and added on each renewal): a number, or one per meter with `*` as
   * the default; default 10. Larger blocks mean fewer calls, but units held by one instance are
   * not available to the others until it returns them.
   */
  readonly units?: number | Readonly<Record<string, number>>;
  /** A lease lasts this long unless renewed (it is renewed while in use); default 60 s. */
  readonly ttlSeconds?: number;
  /** Renew in the background once fewer than this share of a block is left; default 0.25. */
  readonly lowWater?: number;
  /** Names this app instance in the control plane's leases; default host, pid and a random suffix. */
  readonly instanceId?: string;
  /** After a refusal, the control plane is asked again no sooner than this; default 1 s. */
  readonly retryAfterMs?: number;
  /**
   * Records the usage of units as they are spent: called synchronously by `consume()` before it
   * answers allowed, e.g. `(tenant, meter, units) => usage.record({ tenant, meter, value: units })`
   * (a `count` meter counts events: record one per unit). With it, the units the SDK reports
   * consumed are always recorded. Without it, the app records them itself, synchronously once
   * `consume()` answers: the SDK lets pending callbacks run before it reports.
   */
  readonly recordUsage?: (tenantId: string, meter: string, units: number) => void;
  /**
   * Called (and awaited) before the SDK reports consumed units to the control plane, so that the
   * usage recorded for them is stored first, e.g. `() => usage.flush()`. Reporting units whose
   * usage is not yet stored would for a moment count them nowhere, and could let another
   * instance be granted past a hard limit. Leases rely on usage being recorded: units reported
   * consumed count against the limit only through their usage events.
   */
  readonly flushUsage?: () => Promise<void>;
}

/** A lease as the control plane grants or renews it. */
type LeaseAnswer = Schemas['Lease'];

/** One (tenant, meter)'s local block. */
interface Lease {
  readonly tenantId: string;
  readonly meter: string;
  id: string | null;
  /** Units granted on the open lease, in total. */
  granted: number;
  /** Units spent locally on the open lease. */
  consumed: number;
  /** Units of the lease from this count on were granted past a soft limit (Infinity: none). */
  overageFrom: number;
  /** Local time after which the block is not spent any more (a margin before the lease expires). */
  spendUntil: number;
  /** A grant, renewal or release under way. */
  busy: Promise<void> | null;
  /** The control plane refused (or could not be asked) until then. */
  refusedUntil: number;
  refusal: { reason: ConsumeRefusal; detail: string } | null;
  /** Consumed at the last keep-alive tick: unchanged over a whole tick means the lease is idle. */
  consumedAtTick: number;
  /** For a soft limit: what the tenant's snapshot says remains, to size blocks near the limit. */
  softRemaining: number | null;
}

const ALLOWED: ConsumeResult = Object.freeze({ allowed: true, overage: false });
const OVERAGE: ConsumeResult = Object.freeze({ allowed: true, overage: true });

/**
 * Hard and soft limits across many app instances through the control plane's lease API: units
 * are leased in blocks per (tenant, meter) and spent locally; a block is renewed in the
 * background before it runs out (reporting what was consumed), kept alive while in use, released
 * when idle, and every lease is released by {@link close}.
 */
export class QuotaLeases {
  readonly #client: ControlPlaneClient;
  readonly #units: LeaseOptions['units'];
  readonly #ttlSeconds: number;
  readonly #lowWater: number;
  readonly #instanceId: string;
  readonly #retryAfterMs: number;
  readonly #flushUsage: () => Promise<void>;
  readonly #recordUsage: LeaseOptions['recordUsage'];
  readonly #leases = new Map<string, Lease>();
  readonly #tick: NodeJS.Timeout;
  #closed = false;

  constructor(client: ControlPlaneClient, options: LeaseOptions = {}) {
    this.#client = client;
    this.#units = options.units;
    this.#ttlSeconds = options.ttlSeconds ?? 60;
    this.#lowWater = options.lowWater ?? 0.25;
    this.#instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.#retryAfterMs = options.retryAfterMs ?? 1000;
    this.#flushUsage = options.flushUsage ?? (async () => {});
    this.#recordUsage = options.recordUsage;
    // Renewing at a third of the TTL leaves two more tries before a lease in use could expire.
    this.#tick = setInterval(() => this.#keepAlive(), (this.#ttlSeconds * 1000) / 3).unref();
  }

  #blockOf(meter: string): number {
    const units = this.#units;
    if (units === undefined) return 10;
    if (typeof units === 'number') return units;
    return units[meter] ?? units['*'] ?? 10;
  }

  /**
   * Spends `units` of a limited meter from the local block, leasing more when it runs short.
   * For a soft limit, `softRemaining` (the snapshot's `remaining`) keeps blocks from reaching past
   * the limit where the snapshot knows it: the control plane marks a whole block as overage
   * when any of it is.
   */
  async consume(
    tenantId: string,
    meter: string,
    units: number,
    softRemaining: number | null = null,
  ): Promise<ConsumeResult> {
    const key = `${tenantId}\u0000${meter}`;
    // Twice at most: a caller that waited for another's refill which did not cover it asks once itself.
    for (let attempt = 0; ; attempt++) {
      // Looked up each time: an idle lease may have been released (and dropped) while this waited.
      const lease = this.#leases.get(key) ?? this.#newLease(key, tenantId, meter);
      lease.softRemaining = softRemaining;
      const now = Date.now();
      if (lease.id !== null && lease.granted - lease.consumed >= units && now < lease.spendUntil) {
        lease.consumed += units;
        if (this.#recordUsage) {
          try {
            this.#recordUsage(tenantId, meter, units);
          } catch (error) {
            lease.consumed -= units;
            throw error;
          }
        }
        if (lease.granted - lease.consumed < this.#blockOf(meter) * this.#lowWater) this.#topUp(lease);
        return lease.consumed > lease.overageFrom ? OVERAGE : ALLOWED;
      }
      if (lease.busy) {
        await lease.busy;
        continue;
      }
      if (attempt >= 2 || now < lease.refusedUntil || this.#closed) {
        const refusal = lease.refusal ?? {
          reason: 'limit_exhausted' as const,
          detail: `tenant ${tenantId} has no "${meter}" units left this period, across every instance`,
        };
        return { allowed: false, ...refusal };
      }
      await this.#refill(lease, units);
    }
  }

  #newLease(key: string, tenantId: string, meter: string): Lease {
    const lease: Lease = {
      tenantId,
      meter,
      id: null,
      granted: 0,
      consumed: 0,
      overageFrom: Number.POSITIVE_INFINITY,
      spendUntil: 0,
      busy: null,
      refusedUntil: 0,
      refusal: null,
      consumedAtTick: -1,
      softRemaining: null,
    };
    this.#leases.set(key, lease);
    return lease;
  }

  /** A tenant's snapshot changed (a new limit, a new period): ask again rather than wait out a refusal. */
  changed(tenantId: string): void {
    for (const lease of this.#leases.values()) {
      if (lease.tenantId === tenantId) lease.refusedUntil = 0;
    }
  }

  #topUp(lease: Lease): void {
    if (lease.busy || Date.now() < lease.refusedUntil || this.#closed) return;
    this.#refill(lease, 0).catch(() => {});
  }

  /**
   * Leases more units (renewing the open lease, or taking a new one); `needed` is what a caller
   * waits for. With `more` false it only renews: reports what was consumed and extends the lease.
   */
  #refill(lease: Lease, needed: number, more = true): Promise<void> {
    const run = async () => {
      const block = this.#blockOf(lease.meter);
      let want = more ? Math.max(block, needed - (lease.granted - lease.consumed)) : 0;
      if (more && lease.softRemaining !== null && lease.softRemaining > 0) {
        want = Math.max(needed, Math.min(want, lease.softRemaining));
      }
      try {
        let answer: LeaseAnswer | null = null;
        const sent = Date.now();
        if (lease.id !== null) answer = await this.#renew(lease, want);
        if (answer === null) {
          if (!more) return;
          const granted = await this.#client.post('/v1/tenants/{id}/leases', {
            path: { id: lease.tenantId },
            body: {
              meter: lease.meter,
              units: want,
              instance_id: this.#instanceId,
              ttl_seconds: this.#ttlSeconds,
            },
          });
          answer = granted.body;
          lease.id = answer.id;
          lease.consumed = 0;
          lease.granted = 0;
          lease.overageFrom = Number.POSITIVE_INFINITY;
        }
        const added = answer.granted - lease.granted;
        // The control plane marks a whole grant: its units count as overage from the first one.
        if (added > 0 && answer.overage) lease.overageFrom = Math.min(lease.overageFrom, lease.granted);
        lease.granted = answer.granted;
        lease.spendUntil = sent + this.#ttlSeconds * 1000 - Math.min(5_000, (this.#ttlSeconds * 1000) / 4);
        lease.refusal = null;
        // Short of what was asked: the limit is near. Ask again only after a while (a top-up on
        // every check would be a call per check), and refuse meanwhile once the block is spent.
        if (added < want) lease.refusedUntil = Date.now() + this.#retryAfterMs;
      } catch (error) {
        lease.refusedUntil = Date.now() + this.#retryAfterMs;
        lease.refusal = refusalOf(error, lease);
      }
    };
    const busy = run().finally(() => {
      lease.busy = null;
    });
    lease.busy = busy;
    return busy;
  }

  /** Renews the open lease, reporting what it consumed; null when it is closed and a new one is needed. */
  async #renew(lease: Lease, units: number): Promise<LeaseAnswer | null> {
    // Units spent after this point are reported next time: their usage may not be recorded yet.
    const consumed = lease.consumed;
    await this.#usageStored();
    try {
      const renewed = await this.#client.post('/v1/tenants/{id}/leases/{lease_id}/renew', {
        path: { id: lease.tenantId, lease_id: lease.id ?? '' },
        body: { consumed, units, ttl_seconds: this.#ttlSeconds },
      });
      return renewed.body;
    } catch (error) {
      if (error instanceof ControlPlaneError && ['lease_closed', 'lease_not_found'].includes(error.code)) {
        lease.id = null;
        return null;
      }
      throw error;
    }
  }

  /** Waits until the usage of the units consumed so far is stored. */
  async #usageStored(): Promise<void> {
    // The app records what consume() allowed once its answer arrives: let those callbacks run.
    if (!this.#recordUsage) await new Promise((resolve) => setImmediate(resolve));
    await this.#flushUsage();
  }

  /** Renews the leases in use before they expire and releases the idle ones. */
  #keepAlive(): void {
    for (const [key, lease] of this.#leases) {
      if (lease.busy) continue;
      if (lease.id === null) {
        if (Date.now() >= lease.refusedUntil) this.#leases.delete(key);
        continue;
      }
      if (lease.consumed === lease.consumedAtTick) {
        this.#leases.delete(key);
        this.#release(lease).catch(() => {});
      } else {
        lease.consumedAtTick = lease.consumed;
        const low = lease.granted - lease.consumed < this.#blockOf(lease.meter) * this.#lowWater;
        this.#refill(lease, 0, low && Date.now() >= lease.refusedUntil).catch(() => {});
      }
    }
  }

  async #release(lease: Lease, flushed = false): Promise<void> {
    await lease.busy;
    const id = lease.id;
    if (id === null) return;
    const consumed = lease.consumed;
    lease.id = null;
    if (!flushed) await this.#usageStored();
    await this.#client
      .post('/v1/tenants/{id}/leases/{lease_id}/release', {
        path: { id: lease.tenantId, lease_id: id },
        body: { consumed },
      })
      .catch(() => {
        // Closed already, or the control plane is away: the lease expires by itself.
      });
  }

  /** Stops renewing and releases every lease, returning the units not consumed. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    const leases = [...this.#leases.values()];
    this.#leases.clear();
    await Promise.all(leases.map((lease) => lease.busy));
    await this.#usageStored();
    await Promise.all(leases.map((lease) => this.#release(lease, true)));
  }
}

function refusalOf(error: unknown, lease: Lease): { reason: ConsumeRefusal; detail: string } {
  if (
    error instanceof ControlPlaneError &&
    (error.code === 'tenant_inactive' || error.code === 'feature_disabled')
  ) {
    return { reason: error.code, detail: String(error.problem.detail ?? error.message) };
  }
  if (error instanceof ControlPlaneUnreachableError) {
    return {
      reason: 'control_plane_unreachable',
      detail: `no "${lease.meter}" units are left in this instance's lease of tenant ${lease.tenantId}, and ${error.message}`,
    };
  }
  // limit_exhausted names the limit and what is used; anything else (a meter the plan lost, a
  // problem answer): refuse all the same, with the control plane's words.
  return {
    reason: 'limit_exhausted',
    detail:
      error instanceof ControlPlaneError
        ? String(error.problem.detail ?? error.message)
        : error instanceof Error
          ? error.message
          : String(error),
  };
}
