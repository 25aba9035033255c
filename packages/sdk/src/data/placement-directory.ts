import type { Placement, PlacementResources } from '@tenantry/core';
import type { ResponseBody, Schemas } from '@tenantry/core/api';
import type { ControlPlaneClient } from '../control-plane/index.ts';

/**
 * The placements whose data the SDK reaches: the vendor's shared tables, a schema, a database (on
 * any vendor data plane the app has a URL for), and a BYOI customer's own database.
 */
export type DataPlacement = 'pool' | 'schema' | 'database' | 'byoi';

/**
 * The tenant states whose data the app may use. A tenant still provisioning has nothing yet; a
 * suspended, cancelled or deleted one is locked out until the control plane says otherwise.
 */
export const DATA_STATES: readonly string[] = ['trialing', 'active', 'past_due'];

/** Where a tenant's data lives, as the control plane says (`GET /v1/tenants/{id}`). */
export interface TenantPlacement {
  readonly tenantId: string;
  /** One of the five; `byoi_agent` is known but never usable ({@link AgentOnlyPlacementError}). */
  readonly placement: Placement;
  /** The tenant's lifecycle state when it was looked up. */
  readonly state: string;
  /** The data plane (`dpl_…`) holding the tenant's data. */
  readonly dataPlane: string;
  /** The tenant's resources as the control plane holds them (`tenant.resources`), all five placements' union. */
  readonly resources: PlacementResources;
  /** The tenant's schema (`schema`), or the app's schema in the customer's database (`byoi`, `byoi_agent`), else null. */
  readonly schema: string | null;
  /** The NOLOGIN role that owns the tenant's schema or database, else null. */
  readonly role: string | null;
  /** The tenant's database (`database`; `byoi` once its connection is set), else null. */
  readonly database: string | null;
}

/** A placement the app's data layer reaches: {@link TenantPlacement} narrowed by {@link Placements.usable}. */
export type UsablePlacement = TenantPlacement & { readonly placement: DataPlacement };

/**
 * The tenant is placed `byoi_agent`: its data lives in the customer's environment and is reached
 * only by the agent there, over its outbound connection. The customer's database is not open to
 * the vendor's network and no connection details for it leave that environment (the control plane
 * holds none), so the app has nothing to connect with: that is the placement's promise, not a gap.
 */
export class AgentOnlyPlacementError extends Error {
  readonly tenantId: string;
  readonly dataPlane: string;

  constructor(tenantId: string, dataPlane: string) {
    super(
      `tenant ${tenantId} is placed byoi_agent on data plane ${dataPlane}: its data never leaves the customer's environment and only its agent reaches it, so the app cannot open a transaction on it`,
    );
    this.name = 'AgentOnlyPlacementError';
    this.tenantId = tenantId;
    this.dataPlane = dataPlane;
  }
}

/**
 * A BYOI tenant's database as the control plane decrypts it for the app
 * (`GET /v1/tenants/{id}/data-connection/credentials`). The password stays in memory, in the pool
 * that needs it: never logged, never in an error message.
 */
export type DataConnection = ResponseBody<'/v1/tenants/{id}/data-connection/credentials', 'get'>;

/** The tenant exists but its state keeps its data closed (suspended, cancelled, still provisioning…). */
export class TenantUnavailableError extends Error {
  readonly tenantId: string;
  readonly state: string;

  constructor(tenantId: string, state: string) {
    super(
      `tenant ${tenantId} is ${state}: its data can be used only while it is ${DATA_STATES.join(', ').replace(/, ([^,]+)$/, ' or $1')}`,
    );
    this.name = 'TenantUnavailableError';
    this.tenantId = tenantId;
    this.state = state;
  }
}

/** The control plane placed the tenant somewhere this SDK cannot reach (e.g. a newer placement). */
export class UnsupportedPlacementError extends Error {
  readonly tenantId: string;
  readonly placement: string;

  constructor(tenantId: string, placement: string, detail: string) {
    super(`tenant ${tenantId} has placement "${placement}": ${detail}`);
    this.name = 'UnsupportedPlacementError';
    this.tenantId = tenantId;
    this.placement = placement;
  }
}

/** What the data layer asks of a directory of placements: where a tenant lives, if it may be used. */
export interface Placements {
  /** The tenant's placement; throws unless its data may be used now. */
  usable(tenantId: string): Promise<UsablePlacement>;
  /** {@link usable} from memory alone; undefined when only a lookup can say. */
  usableNow(tenantId: string): UsablePlacement | undefined;
  /** A `byoi` tenant's database connection; absent where no tenant can be `byoi` (self-hosted). */
  dataConnection?(tenantId: string): Promise<DataConnection>;
}

/** A tenant the directory does not serve: e.g. any tenant but the license's customer, self-hosted. */
export class TenantNotServedError extends Error {
  readonly tenantId: string;

  constructor(tenantId: string, served: string) {
    super(`tenant ${tenantId} has no data here: this app serves only tenant ${served}`);
    this.name = 'TenantNotServedError';
    this.tenantId = tenantId;
  }
}

/**
 * The placements of an app that serves one tenant with no control plane (self-hosted on a
 * license): that tenant's rows live in the pool tables of the app's own database, kept to it by
 * the same binding and row-level security as in SaaS; any other tenant is refused, so code that
 * ran as another cannot reach rows written under its id.
 */
export class OneTenantPlacement implements Placements {
  readonly #placement: UsablePlacement;

  constructor(tenantId: string) {
    this.#placement = {
      tenantId,
      placement: 'pool',
      state: 'active',
      // The app's own database, as `dpl_default` names the control plane's own server.
      dataPlane: 'dpl_default',
      resources: { placement: 'pool', data_plane: 'dpl_default' },
      schema: null,
      role: null,
      database: null,
    };
  }

  usable(tenantId: string): Promise<UsablePlacement> {
    try {
      return Promise.resolve(this.#served(tenantId));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  usableNow(tenantId: string): UsablePlacement {
    return this.#served(tenantId);
  }

  #served(tenantId: string): UsablePlacement {
    if (tenantId !== this.#placement.tenantId)
      throw new TenantNotServedError(tenantId, this.#placement.tenantId);
    return this.#placement;
  }
}

/** Options of a {@link PlacementDirectory}. */
export interface PlacementDirectoryOptions {
  /** The control plane to ask. */
  readonly controlPlane: ControlPlaneClient;
  /**
   * How long a looked-up placement is trusted without word from the control plane; default 30 s.
   * {@link PlacementDirectory.invalidate} drops one sooner.
   */
  readonly maxAgeMs?: number;
  /**
   * How long a BYOI tenant's decrypted connection is kept in memory; default 60 s. Each read is
   * audited by the control plane, so it is not read per transaction; {@link PlacementDirectory.invalidate}
   * drops it with the placement (a connection replaced with `PUT …/data-connection` is an event
   * that invalidates the tenant).
   */
  readonly connectionMaxAgeMs?: number;
  /** Milliseconds since the epoch; replaces `Date.now` for tests. */
  readonly now?: () => number;
}

/** A tenant as the control plane answers it; its members are still checked, as from any server. */
type TenantAnswer = Schemas['Tenant'];

interface Entry {
  readonly placement: TenantPlacement;
  readonly until: number;
}

interface ConnectionEntry {
  readonly connection: DataConnection;
  readonly until: number;
}

/**
 * Where each tenant's data lives and whether it may be used, looked up from the control plane and
 * kept for `maxAgeMs`. Concurrent misses for one tenant share one request. When the control plane
 * moves, suspends or deletes a tenant, the entitlement stream calls {@link invalidate}, so the
 * next transaction looks again.
 *
 * @example
 * ```ts
 * const directory = new PlacementDirectory({ controlPlane });
 * const where = await directory.usable('ten_123'); // throws TenantUnavailableError when suspended
 * ```
 */
export class PlacementDirectory implements Placements {
  readonly #controlPlane: ControlPlaneClient;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<TenantPlacement>>();
  /**
   * Bumped by {@link invalidate}: a lookup that was under way when its tenant was invalidated
   * answers its caller but is not kept, since it may describe the tenant as it was before.
   */
  readonly #generation = new Map<string, number>();
  readonly #connectionMaxAgeMs: number;
  readonly #connections = new Map<string, ConnectionEntry>();
  readonly #pendingConnections = new Map<string, Promise<DataConnection>>();
  #pruneAt = 1_000;

  constructor(options: PlacementDirectoryOptions) {
    this.#controlPlane = options.controlPlane;
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
    this.#connectionMaxAgeMs = options.connectionMaxAgeMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The tenant's placement, from memory when fresh; throws the control plane's errors (e.g. not found). */
  lookup(tenantId: string): Promise<TenantPlacement> {
    const now = this.#now();
    const fresh = this.#fresh(tenantId, now);
    if (fresh !== undefined) return Promise.resolve(fresh);
    const pending = this.#pending.get(tenantId);
    if (pending !== undefined) return pending;
    const generation = this.#generation.get(tenantId) ?? 0;
    const settle = () => {
      // An invalidation may have started a newer lookup meanwhile; that one stays.
      if (this.#pending.get(tenantId) === lookup) this.#pending.delete(tenantId);
    };
    const lookup: Promise<TenantPlacement> = this.#fetch(tenantId).then(
      (placement) => {
        settle();
        if ((this.#generation.get(tenantId) ?? 0) === generation) {
          this.#prune(now);
          this.#entries.set(tenantId, { placement, until: this.#now() + this.#maxAgeMs });
        }
        return placement;
      },
      (error: unknown) => {
        settle();
        throw error;
      },
    );
    this.#pending.set(tenantId, lookup);
    return lookup;
  }

  /**
   * The tenant's placement; throws {@link TenantUnavailableError} unless its state lets its data
   * be used, and {@link AgentOnlyPlacementError} for a `byoi_agent` tenant.
   */
  async usable(tenantId: string): Promise<UsablePlacement> {
    return usableAt(await this.lookup(tenantId));
  }

  /**
   * {@link usable} answered from memory alone: the placement when a fresh one is held, undefined
   * when only the control plane can say. Lets a caller's hot path skip a promise.
   */
  usableNow(tenantId: string): UsablePlacement | undefined {
    const fresh = this.#fresh(tenantId, this.#now());
    return fresh === undefined ? undefined : usableAt(fresh);
  }

  /** The placement held for the tenant, if it is still trusted at `now`. */
  #fresh(tenantId: string, now: number): TenantPlacement | undefined {
    const entry = this.#entries.get(tenantId);
    return entry !== undefined && entry.until > now ? entry.placement : undefined;
  }

  /**
   * A `byoi` tenant's decrypted connection, kept `connectionMaxAgeMs`; concurrent misses share
   * one read (each read is audited). Throws the control plane's errors (e.g. 404 for a tenant
   * with none).
   */
  dataConnection(tenantId: string): Promise<DataConnection> {
    const entry = this.#connections.get(tenantId);
    if (entry !== undefined && entry.until > this.#now()) return Promise.resolve(entry.connection);
    const pending = this.#pendingConnections.get(tenantId);
    if (pending !== undefined) return pending;
    const generation = this.#generation.get(tenantId) ?? 0;
    const read: Promise<DataConnection> = this.#controlPlane
      .get('/v1/tenants/{id}/data-connection/credentials', { path: { id: tenantId } })
      .then(
        ({ body }) => {
          if (this.#pendingConnections.get(tenantId) === read) this.#pendingConnections.delete(tenantId);
          if ((this.#generation.get(tenantId) ?? 0) === generation)
            this.#connections.set(tenantId, {
              connection: body,
              until: this.#now() + this.#connectionMaxAgeMs,
            });
          return body;
        },
        (error: unknown) => {
          if (this.#pendingConnections.get(tenantId) === read) this.#pendingConnections.delete(tenantId);
          throw error;
        },
      );
    this.#pendingConnections.set(tenantId, read);
    return read;
  }

  /** Forgets what is known of the tenant (its placement, its connection): its next lookup asks the control plane. */
  invalidate(tenantId: string): void {
    this.#entries.delete(tenantId);
    this.#pending.delete(tenantId);
    this.#connections.delete(tenantId);
    this.#pendingConnections.delete(tenantId);
    this.#generation.set(tenantId, (this.#generation.get(tenantId) ?? 0) + 1);
  }

  /** Forgets every tenant, e.g. after the stream from the control plane was lost for a while. */
  invalidateAll(): void {
    for (const tenantId of [...this.#entries.keys(), ...this.#pending.keys(), ...this.#connections.keys()])
      this.invalidate(tenantId);
  }

  async #fetch(tenantId: string): Promise<TenantPlacement> {
    const { body } = await this.#controlPlane.get('/v1/tenants/{id}', { path: { id: tenantId } });
    return toPlacement(tenantId, body);
  }

  /** Drops expired entries now and then, so tenants seen once do not stay in memory for ever. */
  #prune(now: number): void {
    if (this.#entries.size < this.#pruneAt) return;
    for (const [tenantId, entry] of this.#entries) if (entry.until <= now) this.#entries.delete(tenantId);
    for (const [tenantId, entry] of this.#connections)
      if (entry.until <= now) this.#connections.delete(tenantId);
    // A generation matters only to a lookup under way.
    for (const tenantId of this.#generation.keys())
      if (!this.#pending.has(tenantId)) this.#generation.delete(tenantId);
    this.#pruneAt = Math.max(1_000, this.#entries.size * 2);
  }
}

function usableAt(placement: TenantPlacement): UsablePlacement {
  if (placement.placement === 'byoi_agent')
    throw new AgentOnlyPlacementError(placement.tenantId, placement.dataPlane);
  if (!DATA_STATES.includes(placement.state))
    throw new TenantUnavailableError(placement.tenantId, placement.state);
  return placement as UsablePlacement;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function toPlacement(tenantId: string, body: TenantAnswer): TenantPlacement {
  // The tenant is looked up by id; an answer for another tenant (a proxy's cache, a slug that
  // happens to match) must never scope a transaction.
  if (body.id !== tenantId)
    throw new Error(`the control plane answered for tenant ${String(body.id)} when asked for ${tenantId}`);
  const state = String(body.state);
  // The resources say the placement; an answer whose two disagree is not one to act on.
  const resources = body.resources as Partial<Record<string, unknown>> | undefined;
  const placement = String(resources?.placement ?? body.placement);
  const dataPlane = text(resources?.data_plane);
  if (placement !== String(body.placement) || dataPlane === null)
    throw new UnsupportedPlacementError(tenantId, placement, 'the control plane names no data plane for it');
  const schema = text(resources?.schema);
  const role = text(resources?.role);
  const database = text(resources?.database);
  // The fields beside `resources` are read from it, so the two cannot disagree.
  const placed = (r: PlacementResources): TenantPlacement => ({
    tenantId,
    placement: r.placement,
    state,
    dataPlane,
    resources: r,
    schema: 'schema' in r ? r.schema : null,
    role: 'role' in r ? r.role : null,
    database: 'database' in r ? r.database : null,
  });
  switch (placement) {
    case 'pool':
      return placed({ placement, data_plane: dataPlane });
    case 'schema':
      if (schema === null || role === null)
        throw new UnsupportedPlacementError(tenantId, placement, 'the control plane names no schema or role');
      return placed({ placement, data_plane: dataPlane, schema, role });
    case 'database':
      if (database === null || role === null)
        throw new UnsupportedPlacementError(
          tenantId,
          placement,
          'the control plane names no database or role',
        );
      return placed({ placement, data_plane: dataPlane, database, role });
    case 'byoi':
      if (schema === null)
        throw new UnsupportedPlacementError(tenantId, placement, 'the control plane names no app schema');
      return placed({ placement, data_plane: dataPlane, database, schema });
    case 'byoi_agent':
      if (schema === null)
        throw new UnsupportedPlacementError(tenantId, placement, 'the control plane names no app schema');
      return placed({ placement, data_plane: dataPlane, agent: text(resources?.agent), schema });
    default:
      throw new UnsupportedPlacementError(
        tenantId,
        placement,
        'this SDK reaches pool, schema, database and byoi placements only',
      );
  }
}
