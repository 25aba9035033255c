import type { ConfigValue, LimitEntitlement } from '@tenantry/core';
import type { TenantContextOptions } from './adapters/index.ts';
import {
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  createAccessTokenVerifier,
  currentTenant,
} from './context/index.ts';
import { ControlPlaneClient, type ControlPlaneOptions } from './control-plane/index.ts';
import {
  PlacementDirectory,
  type PlacementDirectoryOptions,
  TenantData,
  type TenantDataOptions,
} from './data/index.ts';
import {
  type AcquireResult,
  type ConsumeResult,
  Entitlements,
  type EntitlementsOptions,
} from './entitlements/index.ts';
import { type UsageRecord, UsageRecorder, type UsageRecorderOptions } from './usage/index.ts';

/** What {@link Tenantry.open} needs: where the control plane is, and optionally the app's database. */
export interface TenantryOptions extends ControlPlaneOptions {
  /**
   * The app's database, as its one login role (see {@link TenantDataOptions.url}); leave it out
   * for an app that keeps no tenant data in PostgreSQL.
   */
  readonly databaseUrl?: string;
  /** Settings of the tenant-scoped data layer beyond its URL. */
  readonly data?: Omit<TenantDataOptions, 'url' | 'placements'>;
  /** How long a tenant's placement is trusted without word from the control plane. */
  readonly placements?: Omit<PlacementDirectoryOptions, 'controlPlane'>;
  /** Access-token checks: the issuer and audience the control plane signs with. */
  readonly accessTokens?: Omit<AccessTokenVerifierOptions, 'url'>;
  /**
   * Local entitlements. Leased units are recorded as usage through {@link Tenantry.usage}, and
   * reported consumed only after it flushed, so `leases.recordUsage`/`flushUsage` are set here.
   */
  readonly entitlements?: Omit<EntitlementsOptions, 'leases'> & {
    readonly leases?: Omit<NonNullable<EntitlementsOptions['leases']>, 'recordUsage' | 'flushUsage'>;
  };
  /** The usage recorder; `spoolDirectory` is where records wait while the control plane is down. */
  readonly usage: Omit<UsageRecorderOptions, 'controlPlane'>;
}

/**
 * The SDK wired the safe way, once per app process: the tenant of each request from its access
 * token, entitlements checked in memory, limited use leased, usage recorded without loss, and
 * tenant-scoped data in every placement, with the placement cache dropped whenever the control
 * plane announces a change of the tenant.
 *
 * @example
 * ```ts
 * const tenantry = await Tenantry.open({
 *   url: 'http://localhost:8080',
 *   token: process.env.TENANTRY_TOKEN ?? '',
 *   databaseUrl: 'postgres://minutes_app@localhost/minutes',
 *   usage: { spoolDirectory: './.usage-spool' },
 * });
 * app.register(fastifyTenantContext, tenantry.requestContext); // from '@tenantry/sdk/fastify'
 * app.post('/meetings', async () => {
 *   const answer = await tenantry.consume('meetings');
 *   if (!answer.allowed) return { refused: answer.detail };
 *   return tenantry.data.transaction((db) => db.query('insert into meetings (id, title) values ($1, $2)', ['m1', 'Kick-off']));
 * });
 * ```
 */
export class Tenantry {
  /** The control plane's HTTP API, as the app's operator key. */
  readonly client: ControlPlaneClient;
  /** Checks access tokens against the control plane's published keys. */
  readonly verifier: AccessTokenVerifier;
  readonly entitlements: Entitlements;
  readonly usage: UsageRecorder;
  readonly placements: PlacementDirectory;
  readonly #data: TenantData | undefined;
  readonly #unsubscribe: Array<() => void>;

  private constructor(parts: {
    client: ControlPlaneClient;
    verifier: AccessTokenVerifier;
    entitlements: Entitlements;
    usage: UsageRecorder;
    placements: PlacementDirectory;
    data: TenantData | undefined;
  }) {
    this.client = parts.client;
    this.verifier = parts.verifier;
    this.entitlements = parts.entitlements;
    this.usage = parts.usage;
    this.placements = parts.placements;
    this.#data = parts.data;
    // A moved, suspended or deleted tenant must not be reached where it was; changes missed while
    // the stream was down are unknown, so a reconnection drops every placement.
    this.#unsubscribe = [
      this.entitlements.on('tenant', (tenantId) => this.placements.invalidate(tenantId)),
      this.entitlements.on('status', (status) => {
        if (status.state === 'live') this.placements.invalidateAll();
      }),
    ];
  }

  /** Opens the usage recorder (sending what an earlier process spooled) and wires the rest. */
  static async open(options: TenantryOptions): Promise<Tenantry> {
    const client = new ControlPlaneClient(options);
    const usage = await UsageRecorder.open({ ...options.usage, controlPlane: client });
    const entitlements = new Entitlements(client, {
      ...options.entitlements,
      leases: {
        ...options.entitlements?.leases,
        // One event per unit (the last one carries a fraction): a `count` meter counts events and
        // a `sum` meter adds values, and both then add up to `units`.
        recordUsage: (tenant, meter, units) => {
          const whole = Math.floor(units);
          for (let i = 0; i < whole; i++) usage.record({ tenant, meter, value: 1 });
          if (units > whole) usage.record({ tenant, meter, value: units - whole });
        },
        flushUsage: () => usage.flush(),
      },
    });
    const placements = new PlacementDirectory({ ...options.placements, controlPlane: client });
    const data =
      options.databaseUrl === undefined
        ? undefined
        : new TenantData({ ...options.data, url: options.databaseUrl, placements });
    const verifier = createAccessTokenVerifier({ ...options.accessTokens, url: client.url });
    return new Tenantry({ client, verifier, entitlements, usage, placements, data });
  }

  /**
   * The options of the Fastify plugin and the Express middleware: each request's tenant from its
   * access token, with the tenant's entitlement snapshot loaded before the handler runs, so the
   * synchronous checks below can answer.
   */
  get requestContext(): TenantContextOptions {
    return {
      verifier: this.verifier,
      onTenant: async (context) => {
        await this.entitlements.load(context.tenantId);
      },
    };
  }

  /** Tenant-scoped data; throws when the app was opened without a `databaseUrl`. */
  get data(): TenantData {
    if (this.#data === undefined)
      throw new Error('Tenantry was opened without a databaseUrl: it has no tenant-scoped data');
    return this.#data;
  }

  /** Whether the current tenant's plan has `feature`; no network call. */
  can(feature: string): boolean {
    return this.entitlements.can(currentTenant('a feature check').tenantId, feature);
  }

  /** The current tenant's limit of `key` (a meter or `seats`); no network call. */
  limit(key: string): LimitEntitlement | undefined {
    return this.entitlements.limit(currentTenant('a limit check').tenantId, key);
  }

  /** The current tenant's value of the config key; no network call. */
  config(key: string): ConfigValue | undefined {
    return this.entitlements.config(currentTenant('a config lookup').tenantId, key);
  }

  /**
   * Spends `units` of the current tenant's `meter` from a local lease, and records them as usage:
   * allowed, allowed past a soft limit (`overage`), or refused.
   */
  consume(meter: string, units = 1): Promise<ConsumeResult> {
    return this.entitlements.consume(currentTenant('consume()').tenantId, meter, units);
  }

  /**
   * Opens a slot of the current tenant's gauge `meter` (a session, a connected device), counted
   * across every instance until `slot.release()`; see {@link Entitlements.acquire}.
   */
  acquire(meter: string, options: { readonly subject?: string } = {}): Promise<AcquireResult> {
    return this.entitlements.acquire(currentTenant('acquire()').tenantId, meter, options);
  }

  /** Records usage of the current tenant (unless `record.tenant` names another); returns the event's id. */
  record(record: UsageRecord): string {
    return this.usage.record({ ...record, tenant: record.tenant ?? currentTenant('record()').tenantId });
  }

  /** Releases leases, sends (or spools) the usage recorded, and closes the database pools. */
  async close(): Promise<void> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.entitlements.close();
    await this.usage.close();
    await this.#data?.close();
  }
}
