import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type ConfigValue, type EntitlementSnapshot, type LimitEntitlement, permitted } from '@tenantry/core';
import type { TenantContextOptions } from './adapters/index.ts';
import { type AgentJob, type AgentJobOptions, runAgentJob } from './agent-jobs/index.ts';
import {
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  createAccessTokenVerifier,
  currentTenant,
} from './context/index.ts';
import { ControlPlaneClient, type ControlPlaneOptions } from './control-plane/index.ts';
import { ControlPlaneSource } from './control-plane-source.ts';
import {
  OneTenantPlacement,
  PlacementDirectory,
  type PlacementDirectoryOptions,
  TenantData,
  type TenantDataOptions,
} from './data/index.ts';
import type { EntitlementSource } from './entitlement-source.ts';
import {
  type AcquireResult,
  type ConsumeResult,
  Entitlements,
  type EntitlementsOptions,
} from './entitlements/index.ts';
import type { LicenseGuard } from './license/index.ts';
import {
  ControlPlaneShares,
  RateLimiter,
  type RateLimitOptions,
  type RateLimitResult,
} from './rate-limits/index.ts';
import { type InstallIdentity, type LicenseOptions, LicenseSource } from './self-hosted/index.ts';
import {
  type ApiKeyVerdict,
  TenantKeys,
  type TenantKeysOptions,
  type VerifyApiKeyOptions,
} from './tenant-keys/index.ts';
import { readTenantSecret } from './tenant-secrets/index.ts';
import { type UsageRecord, UsageRecorder, type UsageRecorderOptions, unitRecords } from './usage/index.ts';

/** What {@link Tenantry.open} needs to run on a control plane: where it is, and optionally the app's database. */
export interface ControlPlaneTenantryOptions extends ControlPlaneOptions {
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
   * Local entitlements. Leased units are recorded as usage through {@link ControlPlaneTenantry.usage},
   * and reported consumed only after it flushed, so `leases.recordUsage`/`flushUsage` are set here.
   */
  readonly entitlements?: Omit<EntitlementsOptions, 'leases'> & {
    readonly leases?: Omit<NonNullable<EntitlementsOptions['leases']>, 'recordUsage' | 'flushUsage'>;
  };
  /** The usage recorder; `spoolDirectory` is where records wait while the control plane is down. */
  readonly usage: Omit<UsageRecorderOptions, 'controlPlane'>;
  /** How tenant API keys are verified ({@link ControlPlaneTenantry.verifyApiKey}). */
  readonly tenantKeys?: TenantKeysOptions;
  /**
   * How this instance leases its shares of tenants' rate limits: its name among the app's
   * instances (default host, pid and a random suffix) and how long a share lasts (default 15 s;
   * renewed at a third of it while in use).
   */
  readonly rateLimits?: { readonly instanceId?: string; readonly ttlSeconds?: number };
  /** Only with a license: a control plane's options and a license's do not mix. */
  readonly license?: never;
  readonly stateDirectory?: never;
}

/**
 * What {@link Tenantry.open} needs to run self-hosted on a license, with no control plane: the
 * license, the release's keys, what the app becomes past the grace days, and its state directory.
 */
export interface LicenseTenantryOptions extends Omit<LicenseOptions, 'seatsInUse'> {
  /**
   * The seats the install uses now, counted from the open tenantry (an app counts its users in
   * its own data, `tenantry.data`): first once {@link Tenantry.open} has opened everything, then
   * on each check, where check-ins report them. The check-in of the open itself, which comes before
   * the data layer so that a refused license opens nothing, reports none. More than the license's
   * seats warns; nothing is refused.
   */
  readonly seatsInUse?: (tenantry: SelfHostedTenantry) => number | Promise<number>;
  /** Only with a control plane: a license's options and a control plane's do not mix. */
  readonly url?: never;
  readonly token?: never;
  readonly usage?: never;
  readonly rateLimits?: never;
  readonly entitlements?: never;
  readonly placements?: never;
  readonly accessTokens?: never;
  /**
   * The app's own database, as its one login role: the license's customer is its one tenant, in
   * the pool tables, under the same binding and row-level security as in SaaS (the operator
   * installs them with `tenantry app migrate --pool-only`). Leave it out for an app that keeps no
   * tenant data in PostgreSQL.
   */
  readonly databaseUrl?: string;
  /** Settings of the tenant-scoped data layer beyond its URL. */
  readonly data?: Omit<TenantDataOptions, 'url' | 'placements'>;
}

/** Either way to run: on a control plane, or on a license. */
export type TenantryOptions = ControlPlaneTenantryOptions | LicenseTenantryOptions;

/**
 * The SDK wired the safe way, once per app process, the same for the app whether it runs on a
 * control plane (SaaS, BYOI) or self-hosted on a license: each request runs as its tenant
 * ({@link requestContext}), and {@link can}, {@link limit}, {@link config}, {@link consume},
 * {@link acquire} and {@link record} answer for it. Where the answers come from is an
 * {@link EntitlementSource}, chosen once by {@link Tenantry.open}; what exists only on one side
 * lives on its subclass ({@link ControlPlaneTenantry}: `client`, `verifier`, `placements`, `data`…;
 * {@link SelfHostedTenantry}: `license`, `install`, `data`), so code that needs it says which it runs on.
 *
 * @example
 * ```ts
 * const tenantry = process.env.TENANTRY_URL
 *   ? await Tenantry.open({ url: process.env.TENANTRY_URL, token: process.env.TENANTRY_TOKEN ?? '', usage: { spoolDirectory: './.usage-spool' } })
 *   : await Tenantry.open({ license: { file: '/etc/minutes/license.jwt' }, builtInKeys: LICENSE_KEYS, restrictedMode: 'read-only', stateDirectory: '/var/lib/minutes' });
 * app.register(fastifyTenantContext, tenantry.requestContext); // from '@tenantry/sdk/fastify'
 * app.post('/meetings', async () => {
 *   const answer = await tenantry.consume('meetings');
 *   if (!answer.allowed) return { refused: answer.detail };
 *   return saveMeeting();
 * });
 * ```
 */
export class Tenantry<S extends EntitlementSource = EntitlementSource> {
  protected readonly source: S;

  protected constructor(source: S) {
    this.source = source;
  }

  /**
   * Opens the SDK on a control plane (`url` and `token`) or on a license (`license`): the types
   * keep the two apart, and the answer is typed by which it is.
   *
   * @throws {LicenseError} on a license that is refused: one line saying why.
   */
  static open(options: LicenseTenantryOptions): Promise<SelfHostedTenantry>;
  static open(options: ControlPlaneTenantryOptions): Promise<ControlPlaneTenantry>;
  static open(options: TenantryOptions): Promise<ControlPlaneTenantry | SelfHostedTenantry>;
  static open(options: TenantryOptions): Promise<ControlPlaneTenantry | SelfHostedTenantry> {
    return options.license === undefined ? openControlPlane(options) : openLicensed(options);
  }

  /** The options of the Fastify plugin and the Express middleware: how each request gets its tenant. */
  get requestContext(): TenantContextOptions {
    return this.source.requestContext;
  }

  /** Whether the current tenant may use `feature`; no network call. */
  can(feature: string): boolean {
    return this.source.can(currentTenant('a feature check').tenantId, feature);
  }

  /**
   * Whether the current request's user may do `permission` (the vendor's, e.g. `meetings:write`);
   * no network call. True when the verified access token grants it (`perms`), the tenant is
   * active, and the user was not removed from the tenant since the token was issued (the
   * entitlement snapshot names removed members at once, so their unexpired tokens stop counting).
   */
  allowed(permission: string): boolean {
    const context = currentTenant('a permission check');
    return permitted(
      this.source.snapshot(context.tenantId),
      {
        subject: context.subject,
        permissions: context.permissions ?? [],
        // A context without an issue time (made by hand) cannot be shown to predate a removal:
        // it is taken as issued at the epoch, so any removal of its user refuses it.
        issuedAt: context.issuedAt ?? 0,
      },
      permission,
    );
  }

  /** The current tenant's limit of `key` (a meter or `seats`), with what is used; no network call. */
  limit(key: string): LimitEntitlement | undefined {
    return this.source.limit(currentTenant('a limit check').tenantId, key);
  }

  /** The current tenant's value of the config key; no network call. */
  config(key: string): ConfigValue | undefined {
    return this.source.config(currentTenant('a config lookup').tenantId, key);
  }

  /** The current tenant's whole entitlement snapshot (plan, features, limits, config); no network call. */
  snapshot(): EntitlementSnapshot {
    return this.source.snapshot(currentTenant('a snapshot').tenantId);
  }

  /**
   * Spends `units` of the current tenant's `meter` and records them as usage: allowed, allowed
   * past a soft limit (`overage`), or refused.
   */
  consume(meter: string, units = 1): Promise<ConsumeResult> {
    return this.source.consume(currentTenant('consume()').tenantId, meter, units);
  }

  /** Opens a slot of the current tenant's gauge `meter` (a session, a connected device) until `slot.release()`. */
  acquire(meter: string, options: { readonly subject?: string } = {}): Promise<AcquireResult> {
    return this.source.acquire(currentTenant('acquire()').tenantId, meter, options);
  }

  /**
   * Counts a request of the current tenant against its plan's rate limit `name` (`rate_limits` in
   * the plan file), in a token bucket in this instance's memory sized by the share of the limit
   * this instance leased: allowed, or refused with when to retry, and the RateLimit headers to
   * answer with either way (`setRateLimitHeaders`). No call per request; the first use of a limit
   * leases a share. A name the plan does not set is not limited.
   */
  rateLimit(name: string, options: RateLimitOptions = {}): Promise<RateLimitResult> {
    return this.source.rateLimit(currentTenant('rateLimit()').tenantId, name, options);
  }

  /** Records usage of the current tenant (unless `record.tenant` names another); returns the event's id. */
  record(record: UsageRecord): string {
    return this.source.record({ ...record, tenant: record.tenant ?? currentTenant('record()').tenantId });
  }

  /** Resolves once the usage recorded so far is stored: sent or spooled, or in the ledger. */
  flush(): Promise<void> {
    return this.source.flush();
  }

  /** Gives back leases and slots, stores the usage recorded, and stops. */
  async close(): Promise<void> {
    await this.source.close();
  }
}

/**
 * The SDK on a control plane: the tenant of each request from its access token, entitlements
 * checked in memory, limited use leased, usage recorded without loss, and tenant-scoped data in
 * every placement, with the placement cache dropped whenever the control plane announces a
 * change of the tenant.
 */
export class ControlPlaneTenantry extends Tenantry<ControlPlaneSource> {
  /** The control plane's HTTP API, as the app's operator key. */
  readonly client: ControlPlaneClient;
  /** Checks access tokens against the control plane's published keys. */
  readonly verifier: AccessTokenVerifier;
  readonly entitlements: Entitlements;
  readonly usage: UsageRecorder;
  /**
   * The tenants' rate limits in this instance, for a check outside a request:
   * `check(tenantId, name)` once the tenant's snapshot is loaded (`entitlements.load(tenantId)`).
   */
  readonly rateLimits: RateLimiter;
  readonly placements: PlacementDirectory;
  /** Tenant API keys, verified locally; see {@link verifyApiKey}. */
  readonly tenantKeys: TenantKeys;
  readonly #data: TenantData | undefined;
  readonly #unsubscribe: Array<() => void>;

  /** @internal Made by {@link Tenantry.open}. */
  constructor(parts: {
    client: ControlPlaneClient;
    verifier: AccessTokenVerifier;
    source: ControlPlaneSource;
    placements: PlacementDirectory;
    data: TenantData | undefined;
    tenantKeys: TenantKeys;
  }) {
    super(parts.source);
    this.client = parts.client;
    this.verifier = parts.verifier;
    this.entitlements = parts.source.entitlements;
    this.usage = parts.source.usage;
    this.rateLimits = parts.source.rateLimits;
    this.placements = parts.placements;
    this.tenantKeys = parts.tenantKeys;
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

  /** Tenant-scoped data; throws when the app was opened without a `databaseUrl`. */
  get data(): TenantData {
    if (this.#data === undefined)
      throw new Error('Tenantry was opened without a databaseUrl: it has no tenant-scoped data');
    return this.#data;
  }

  /**
   * The current tenant's own secret `name` (its AI provider or cloud key, set by the operator
   * with `tenantry secrets set`), or undefined when the tenant has not set one, so that the app
   * can fall back to its own: `(await tenantry.secret('openai.api_key')) ?? managedKey`. Only
   * the current tenant's (from its access token, or `runAsTenant()` in a job). One request
   * to the control plane per call, each audited there as `tenant_secret.read`; nothing is cached.
   *
   * @throws {ControlPlaneError} when the stored value cannot be decrypted, or the app key lacks `secrets:decrypt`.
   */
  async secret(name: string): Promise<string | undefined> {
    return readTenantSecret(this.client, currentTenant('secret()').tenantId, name);
  }

  /**
   * Runs a job of `type` on the current tenant's agent, in the customer's environment, and answers
   * it once it has ended (or `waitSeconds`, default 10, have passed): how the app serves a
   * `byoi_agent` tenant, whose data only its agent reaches. `job.output` holds what the job type
   * declares and nothing else; check `job.state` (`succeeded`, `failed`, `refused`, or `queued` /
   * `sent` / `running` when it did not end in time). Only the current tenant's agent.
   *
   * @throws {ControlPlaneError} `agent_not_enrolled` when the tenant has no active agent.
   */
  async agentJob(
    type: string,
    input: Record<string, unknown> = {},
    options?: AgentJobOptions,
  ): Promise<AgentJob> {
    return runAgentJob(this.client, currentTenant('agentJob()').tenantId, type, input, options);
  }

  /**
   * Whether `presentedKey` (from the `Authorization` header of a request to the vendor's API) is
   * a working API key of one of the vendor's customers: `{ ok: true, tenantId, keyId,
   * permissions, rateLimits }`, or `{ ok: false, reason }`. Checked locally, from key hashes the
   * entitlement stream keeps current: the first call loads them (and the first key of a tenant
   * its snapshot, for its rate limits), later calls make no network call. A revoked
   * key, or a key of a suspended or cancelled tenant, is refused once the stream says so. Pass
   * the client's address (`{ ip: request.ip }`): a key of a tenant with an IP allow-list is
   * refused (`ip_not_allowed`) from any address outside it, or without one. Needs the app key to
   * hold `tenant-keys:verify` (the `app` preset does).
   *
   * @example
   * ```ts
   * const key = await tenantry.verifyApiKey(bearer, { ip: request.ip });
   * if (!key.ok) return reply.code(401).send({ error: key.reason });
   * if (!key.permissions.includes('meetings:write')) return reply.code(403).send();
   * ```
   */
  verifyApiKey(presentedKey: string, options?: VerifyApiKeyOptions): Promise<ApiKeyVerdict> {
    return this.tenantKeys.verify(presentedKey, options);
  }

  /** Releases leases, sends (or spools) the usage recorded, and closes the database pools. */
  override async close(): Promise<void> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.tenantKeys.close();
    await super.close();
    await this.#data?.close();
  }
}

/**
 * The SDK self-hosted on a license, with no control plane: entitlements from the verified
 * license, limits counted and usage kept in the install's state directory for the offline usage
 * report. Every request runs as the license's customer.
 */
export class SelfHostedTenantry extends Tenantry<LicenseSource> {
  /** The license guard: its status, `readOnly` past the grace in that mode, `check()`. */
  readonly license: LicenseGuard;
  /** The install's id and key pair, made at its first start: they sign its usage reports. */
  readonly install: InstallIdentity;
  readonly #data: TenantData | undefined;

  /** @internal Made by {@link Tenantry.open}. */
  constructor(source: LicenseSource, data: TenantData | undefined) {
    super(source);
    this.license = source.guard;
    this.install = source.install;
    this.#data = data;
  }

  /** The customer's data in the app's own database; throws when the app was opened without a `databaseUrl`. */
  get data(): TenantData {
    if (this.#data === undefined)
      throw new Error('Tenantry was opened without a databaseUrl: it has no tenant-scoped data');
    return this.#data;
  }

  /** Stores the usage recorded, stops the license checks, and closes the database pool. */
  override async close(): Promise<void> {
    await super.close();
    await this.#data?.close();
  }
}

/** Opens the usage recorder (sending what an earlier process spooled) and wires the rest. */
async function openControlPlane(options: ControlPlaneTenantryOptions): Promise<ControlPlaneTenantry> {
  const client = new ControlPlaneClient(options);
  const usage = await UsageRecorder.open({ ...options.usage, controlPlane: client });
  const entitlements = new Entitlements(client, {
    ...options.entitlements,
    leases: {
      ...options.entitlements?.leases,
      recordUsage: (tenant, meter, units) => {
        for (const record of unitRecords(tenant, meter, units)) usage.record(record);
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
  const rateLimits = new RateLimiter(
    (tenantId, name) => entitlements.snapshot(tenantId).rate_limits?.[name],
    new ControlPlaneShares(
      client,
      options.rateLimits?.instanceId ?? instanceName(),
      options.rateLimits?.ttlSeconds,
    ),
  );
  const source = new ControlPlaneSource({ entitlements, usage, rateLimits, verifier });
  const tenantKeys = new TenantKeys(client, entitlements, options.tenantKeys);
  return new ControlPlaneTenantry({ client, verifier, source, placements, data, tenantKeys });
}

async function openLicensed(options: LicenseTenantryOptions): Promise<SelfHostedTenantry> {
  const { databaseUrl, data: dataOptions, seatsInUse, ...license } = options;
  // Seats are counted from the open tenantry: none while it is opening.
  let opened: SelfHostedTenantry | undefined;
  const source = await LicenseSource.open({
    ...license,
    ...(seatsInUse === undefined
      ? {}
      : { seatsInUse: () => (opened === undefined ? undefined : seatsInUse(opened)) }),
  });
  // No control plane places anyone: the verified license names the one tenant, in the pool.
  const data =
    databaseUrl === undefined
      ? undefined
      : new TenantData({
          ...dataOptions,
          url: databaseUrl,
          placements: new OneTenantPlacement(source.guard.status.customer.id),
        });
  opened = new SelfHostedTenantry(source, data);
  if (seatsInUse !== undefined) {
    try {
      await opened.license.checkSeats();
    } catch (error) {
      // A count that throws fails the open, as it did when it ran inside the guard's: an app
      // that cannot count its seats learns it at start.
      await opened.close();
      throw error;
    }
  }
  return opened;
}

/** This process's name among the app's instances: host, pid and a random suffix. */
function instanceName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
