import {
  type DomainError,
  type FieldError,
  fail,
  keysetPage,
  ok,
  type Page,
  type PlacementResources,
  type Result,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { DataPlanesTable, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import type { SecretBox } from '../secrets/index.ts';
import { tenantDataKey } from '../tenant-secrets/index.ts';
import {
  type ConnectionDetails,
  type ConnectionInput,
  type ConnectionTimeouts,
  type PublicConnection,
  parseConnection,
  type SslMode,
} from './connection.ts';
import { openConnection, sealCustomerConnection, sealVendorConnection } from './connection-seal.ts';
import { DEFAULT_DATA_PLANE } from './data-plane-connector.ts';
import {
  type ConnectionProblem,
  type Inspection,
  type InspectionNeeds,
  inspectConnection,
} from './inspect.ts';
import type { RegisteredDataPlanes } from './registered-data-planes.ts';

export const DATA_PLANE_KINDS = ['vendor', 'customer', 'agent'] as const;
export type DataPlaneKind = (typeof DATA_PLANE_KINDS)[number];
export const DATA_PLANE_HEALTH = ['unknown', 'healthy', 'degraded', 'unhealthy'] as const;
export type DataPlaneHealth = (typeof DATA_PLANE_HEALTH)[number];

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const REGION = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The app's schema in a BYOI tenant's database when its resources name none. */
const DEFAULT_APP_SCHEMA = 'public';

/** A data plane as the API shows it: never its connection's password. */
export interface DataPlaneView {
  id: string;
  name: string;
  kind: DataPlaneKind;
  region: string | null;
  capacity: number | null;
  tenant_id: string | null;
  /** Tenants that live on it (not purged). */
  tenants: number;
  health: DataPlaneHealth;
  health_detail: string | null;
  health_checked_at: string | null;
  server_version: string | null;
  /** Where it is and as whom it logs in; null for the control plane's own server and agent data planes. */
  connection: PublicConnection | null;
  created_at: string;
  updated_at: string;
  retired_at: string | null;
}

/** A BYOI tenant's data connection as the vendor's app reads it (audited): everything to log in. */
export interface RevealedConnection {
  data_plane_id: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  sslmode: SslMode;
  ca: string | null;
  /** The app's schema in the customer's database. */
  schema: string;
  /** When the connection was last set: a cached copy older than this is stale. */
  updated_at: string;
}

export interface RegisterInput {
  name: string;
  region?: string | undefined;
  capacity?: number | undefined;
  connection: ConnectionInput;
}

export interface UpdateInput {
  name?: string | undefined;
  region?: string | null | undefined;
  capacity?: number | null | undefined;
  connection?: ConnectionInput | undefined;
}

export interface ListFilter {
  kind?: DataPlaneKind | undefined;
  region?: string | undefined;
  health?: DataPlaneHealth | undefined;
  limit: number;
  cursor?: string | undefined;
}

type Row = Selectable<DataPlanesTable>;

/**
 * The registry of data planes: the vendor's servers, registered with connection details that
 * are validated before anything is stored and sealed with the master key; and each BYOI tenant's
 * own database (its `customer` data plane), whose details are sealed under the tenant's data key.
 * Every change is recorded; no answer holds a password except {@link revealConnection}, which
 * audits each read first.
 */
export class DataPlaneService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #secrets: SecretBox;
  readonly #connector: RegisteredDataPlanes;
  readonly #timeouts: ConnectionTimeouts | undefined;
  #connectionSet: (tenantId: string) => Promise<unknown> = async () => {};

  constructor(deps: {
    db: Kysely<Schema>;
    clock: Clock;
    secrets: SecretBox;
    connector: RegisteredDataPlanes;
    /** Bounds on validating a connection; inspectConnection's defaults when left out. */
    timeouts?: ConnectionTimeouts;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#secrets = deps.secrets;
    this.#connector = deps.connector;
    this.#timeouts = deps.timeouts;
  }

  /**
   * Tells `listener` of each tenant whose data connection was set, once it is stored: where the
   * provisioning workflow resumes a BYOI tenant that waits for it.
   */
  onConnectionSet(listener: (tenantId: string) => Promise<unknown>): void {
    this.#connectionSet = listener;
  }

  async register(ctx: RequestContext, input: RegisterInput): Promise<Result<DataPlaneView, DomainError>> {
    const errors = [
      ...nameErrors(input.name),
      ...regionErrors(input.region),
      ...capacityErrors(input.capacity),
    ];
    const parsed = parseConnection(input.connection);
    if (!parsed.ok) errors.push(...parsed.errors);
    if (errors.length > 0 || !parsed.ok) return invalid(errors);
    if (await this.#nameTaken(input.name)) return nameTaken(input.name);
    const inspected = await this.#inspect(parsed.value, { kind: 'vendor' });
    if (!inspected.ok) return inspected;
    const id = newId('dpl');
    const sealed = await sealVendorConnection(this.#secrets, id, parsed.value);
    const created = await this.#db
      .transaction()
      .execute(async (tx) => {
        const row = await tx
          .insertInto('data_planes')
          .values({
            id,
            name: input.name,
            kind: 'vendor',
            region: input.region ?? null,
            capacity: input.capacity ?? null,
            tenant_id: null,
            connection_sealed: sealed,
            metadata: JSON.stringify(metadataOf(parsed.value, inspected.value)),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await recordChange(tx, ctx, {
          action: 'data_plane.registered',
          tenantId: null,
          target: { type: 'data_plane', id },
          data: refOf(row),
          occurredAt: this.#clock.now(),
        });
        return row;
      })
      .catch(uniqueName);
    if (created === null) return nameTaken(input.name);
    this.#connector.know(id, 'vendor');
    return ok(viewOf(created, 0));
  }

  async list(filter: ListFilter): Promise<Page<DataPlaneView>> {
    let query = this.#db
      .selectFrom('data_planes')
      .selectAll()
      .where('retired_at', 'is', null)
      .orderBy('id')
      .limit(filter.limit + 1);
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.region !== undefined) query = query.where('region', '=', filter.region);
    if (filter.health !== undefined) query = query.where('health', '=', filter.health);
    if (filter.cursor !== undefined) query = query.where('id', '>', filter.cursor);
    // The page's rows first: their tenant counts are read for them alone, in one query.
    const shown = keysetPage(
      await query.execute(),
      filter.limit,
      (row) => row,
      (row) => row.id,
    );
    const counts = await this.#tenantCounts(shown.data.map((r) => r.id));
    const data = shown.data.map((row) => viewOf(row, counts.get(row.id) ?? 0));
    return { data, next_cursor: shown.next_cursor };
  }

  async get(id: string): Promise<Result<DataPlaneView, DomainError>> {
    const row = await this.#db.selectFrom('data_planes').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return notFound(id);
    return ok(viewOf(row, (await this.#tenantCounts([id])).get(id) ?? 0));
  }

  async update(
    ctx: RequestContext,
    id: string,
    input: UpdateInput,
  ): Promise<Result<DataPlaneView, DomainError>> {
    const errors = [
      ...(input.name === undefined ? [] : nameErrors(input.name)),
      ...regionErrors(input.region ?? undefined),
      ...capacityErrors(input.capacity ?? undefined),
    ];
    const parsed = input.connection === undefined ? undefined : parseConnection(input.connection);
    if (parsed !== undefined && !parsed.ok) errors.push(...parsed.errors);
    if (errors.length > 0) return invalid(errors);
    const current = await this.#db
      .selectFrom('data_planes')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!current || current.retired_at !== null) return notFound(id);
    if (parsed !== undefined && (current.kind !== 'vendor' || id === DEFAULT_DATA_PLANE))
      return invalid([
        {
          path: 'connection',
          message:
            id === DEFAULT_DATA_PLANE
              ? "the control plane's own server is DATABASE_URL; it has no connection of its own"
              : "a tenant's data connection is set with PUT /v1/tenants/{id}/data-connection",
        },
      ]);
    if (input.name !== undefined && input.name !== current.name && (await this.#nameTaken(input.name)))
      return nameTaken(input.name);
    let sealed: { sealed: string; metadata: Record<string, string> } | undefined;
    if (parsed?.ok) {
      const inspected = await this.#inspect(parsed.value, { kind: 'vendor' });
      if (!inspected.ok) return inspected;
      sealed = {
        sealed: await sealVendorConnection(this.#secrets, id, parsed.value),
        metadata: metadataOf(parsed.value, inspected.value),
      };
    }
    const updated = await this.#db
      .transaction()
      .execute(async (tx) => {
        const row = await tx
          .updateTable('data_planes')
          .set({
            ...(input.name === undefined ? {} : { name: input.name }),
            ...(input.region === undefined ? {} : { region: input.region }),
            ...(input.capacity === undefined ? {} : { capacity: input.capacity }),
            ...(sealed === undefined
              ? {}
              : { connection_sealed: sealed.sealed, metadata: JSON.stringify(sealed.metadata) }),
            updated_at: sql<Date>`now()`,
          })
          .where('id', '=', id)
          .where('retired_at', 'is', null)
          .returningAll()
          .executeTakeFirst();
        if (!row) return undefined;
        await recordChange(tx, ctx, {
          action: 'data_plane.updated',
          tenantId: null,
          target: { type: 'data_plane', id },
          before: { name: current.name, region: current.region, capacity: current.capacity },
          after: { name: row.name, region: row.region, capacity: row.capacity },
          data: refOf(row),
          occurredAt: this.#clock.now(),
        });
        return row;
      })
      .catch(uniqueName);
    if (updated === null) return nameTaken(input.name ?? current.name);
    if (updated === undefined) return notFound(id);
    if (sealed !== undefined) await this.#connector.forget(id);
    return ok(viewOf(updated, (await this.#tenantCounts([id])).get(id) ?? 0));
  }

  /**
   * Retires a vendor data plane that no tenant lives on: its connection details are destroyed,
   * its pool closed, and its row kept for the audit trail (its name may be taken again).
   */
  async retire(ctx: RequestContext, id: string): Promise<Result<DataPlaneView, DomainError>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('data_planes')
        .selectAll()
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!row || row.retired_at !== null) return notFound(id);
      if (id === DEFAULT_DATA_PLANE || row.kind !== 'vendor')
        return fail(
          'validation_failed',
          id === DEFAULT_DATA_PLANE
            ? "dpl_default is the control plane's own server and cannot be retired"
            : "a tenant's data plane is removed with DELETE /v1/tenants/{id}/data-connection",
          { errors: [{ path: 'id', message: 'must be a vendor data plane other than dpl_default' }] },
        );
      const tenants = await liveTenants(tx, id);
      if (tenants > 0)
        return fail(
          'data_plane_in_use',
          `${tenants} tenant(s) live on data plane ${id}: move or delete them first`,
          {
            details: { tenants },
          },
        );
      const retired = await tx
        .updateTable('data_planes')
        .set({ retired_at: sql<Date>`now()`, connection_sealed: null, updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'data_plane.retired',
        tenantId: null,
        target: { type: 'data_plane', id },
        data: refOf(retired),
        occurredAt: this.#clock.now(),
      });
      return ok(viewOf(retired, 0));
    });
    if (result.ok) await this.#connector.forget(id);
    return result;
  }

  /**
   * Validates a BYOI tenant's connection to its own database and stores it as the tenant's
   * `customer` data plane (made with the tenant), sealed under the tenant's data key; then tells the
   * {@link onConnectionSet} listener. Nothing is stored when validation fails.
   */
  async setConnection(
    ctx: RequestContext,
    tenantRef: string,
    input: ConnectionInput,
  ): Promise<Result<{ data_plane: DataPlaneView; created: boolean }, DomainError>> {
    const parsed = parseConnection(input);
    if (!parsed.ok) return invalid(parsed.errors);
    const tenant = await findTenant(this.#db, tenantRef);
    const refused = byoiRefusal(tenant, tenantRef);
    if (refused) return refused;
    if (!tenant) return tenantNotFound(tenantRef);
    const schema = appSchemaOf(tenant.resources);
    const inspected = await this.#inspect(parsed.value, { kind: 'customer', schema });
    if (!inspected.ok) return inspected;
    const result = await this.#db.transaction().execute(async (tx) => {
      // Shared lock: a deletion (which destroys the data key) waits for this, or goes first.
      const locked = await findTenant(tx, tenant.id, 'share');
      if (!locked || locked.state === 'deleted')
        return fail('tenant_deleted', `tenant ${tenant.id} is deleted: it has no data connection`);
      const dataKey = await tenantDataKey(tx, this.#secrets, tenant.id);
      if (!dataKey.ok)
        return fail(
          'data_plane_unreadable',
          `the data key of tenant ${tenant.id} does not open: ${dataKey.error}`,
        );
      // Made with the tenant (createTenantDataPlane); locked so two connections set at once queue.
      const plane = await tx
        .selectFrom('data_planes')
        .select(['id', 'connection_sealed'])
        .where('tenant_id', '=', tenant.id)
        .where('kind', '=', 'customer')
        .forUpdate()
        .executeTakeFirstOrThrow();
      const id = plane.id;
      const row = await tx
        .updateTable('data_planes')
        .set({
          connection_sealed: sealCustomerConnection(dataKey.value, tenant.id, id, parsed.value),
          metadata: JSON.stringify({ ...metadataOf(parsed.value, inspected.value), schema }),
          retired_at: null,
          health: 'unknown' as const,
          health_detail: null,
          health_checked_at: null,
          health_failures: 0,
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'data_connection.set',
        tenantId: tenant.id,
        target: { type: 'data_plane', id },
        data: refOf(row),
        occurredAt: this.#clock.now(),
      });
      return ok({ data_plane: viewOf(row, 1), created: plane.connection_sealed === null });
    });
    if (!result.ok) return result;
    await this.#connector.forget(result.value.data_plane.id);
    this.#connector.know(result.value.data_plane.id, 'customer');
    // Awaited: the answer says the connection is stored and its tenant's provisioning has moved on.
    await this.#connectionSet(tenant.id);
    return result;
  }

  /** A BYOI tenant's data connection: its data plane, with host, port, database and user only. */
  async connection(tenantRef: string): Promise<Result<DataPlaneView, DomainError>> {
    const tenant = await findTenant(this.#db, tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    const row = await customerPlane(this.#db, tenant.id);
    if (!row) return connectionNotFound(tenant.id);
    return ok(viewOf(row, 1));
  }

  /**
   * Forgets a BYOI tenant's data connection: its sealed details are destroyed; its data plane stays
   * the tenant's, waiting for another. The customer's database, and the tenant's data in it, are
   * left as they are. Refused
   * while the tenant uses it (past provisioning and not cancelled).
   */
  async removeConnection(
    ctx: RequestContext,
    tenantRef: string,
  ): Promise<Result<DataPlaneView, DomainError>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const tenant = await findTenant(tx, tenantRef, 'share');
      if (!tenant) return tenantNotFound(tenantRef);
      if (!['provisioning', 'provisioning_failed', 'cancelled', 'deleted'].includes(tenant.state))
        return fail(
          'data_connection_in_use',
          `tenant ${tenant.id} is ${tenant.state}: its data is reached through this connection. Cancel and delete the tenant, or set another connection with PUT`,
        );
      const row = await tx
        .updateTable('data_planes')
        .set({ connection_sealed: null, updated_at: sql<Date>`now()` })
        .where('tenant_id', '=', tenant.id)
        .where('kind', '=', 'customer')
        .where('retired_at', 'is', null)
        .where('connection_sealed', 'is not', null)
        .returningAll()
        .executeTakeFirst();
      if (!row) return connectionNotFound(tenant.id);
      await recordChange(tx, ctx, {
        action: 'data_connection.removed',
        tenantId: tenant.id,
        target: { type: 'data_plane', id: row.id },
        data: refOf(row),
        occurredAt: this.#clock.now(),
      });
      return ok(viewOf(row, 1));
    });
    if (result.ok) await this.#connector.forget(result.value.id);
    return result;
  }

  /**
   * Decrypts a BYOI tenant's data connection for the vendor's app. The read is recorded
   * (`data_connection.read`, never the password) in the transaction that reads the sealed
   * details, and answered only once that commits.
   */
  async revealConnection(
    ctx: RequestContext,
    tenantRef: string,
  ): Promise<Result<RevealedConnection, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const tenant = await findTenant(tx, tenantRef);
      if (!tenant) return tenantNotFound(tenantRef);
      const row = await customerPlane(tx, tenant.id);
      if (!row) return connectionNotFound(tenant.id);
      const details = await this.openDetails(row, tx);
      if (!details.ok) return details;
      await recordChange(tx, ctx, {
        action: 'data_connection.read',
        tenantId: tenant.id,
        target: { type: 'data_plane', id: row.id },
        data: { data_plane_id: row.id },
        occurredAt: this.#clock.now(),
      });
      return ok({
        data_plane_id: row.id,
        ...details.value,
        schema: appSchemaOf(tenant.resources),
        updated_at: new Date(row.updated_at).toISOString(),
      });
    });
  }

  /**
   * A tenant's live customer data plane with its opened details, for the byoi driver: null when
   * the tenant has none yet.
   */
  async customerDetails(
    tenantId: string,
  ): Promise<Result<{ dataPlane: string; details: ConnectionDetails } | null, DomainError>> {
    const row = await customerPlane(this.#db, tenantId);
    if (!row) return ok(null);
    const details = await this.openDetails(row);
    return details.ok ? ok({ dataPlane: row.id, details: details.value }) : details;
  }

  /** Validates `details` as a data plane of `needs`, as registration does. */
  async inspect(
    details: ConnectionDetails,
    needs: InspectionNeeds,
  ): Promise<Result<Inspection, DomainError>> {
    return this.#inspect(details, needs);
  }

  /** The opened connection details of `row`, or `data_plane_unreadable` saying why not. */
  async openDetails(
    row: Pick<Row, 'id' | 'kind' | 'tenant_id' | 'connection_sealed'>,
    db: Kysely<Schema> = this.#db,
  ): Promise<Result<ConnectionDetails, DomainError>> {
    const opened = await openConnection(db, this.#secrets, row);
    if (opened.ok) return opened;
    return fail(
      'data_plane_unreadable',
      `the connection of data plane ${row.id} cannot be opened: ${opened.error}`,
    );
  }

  async #inspect(
    details: ConnectionDetails,
    needs: InspectionNeeds,
  ): Promise<Result<Inspection, DomainError>> {
    const result = await inspectConnection(details, needs, this.#timeouts);
    return result.ok ? result : problemOf(result.error);
  }

  async #nameTaken(name: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('data_planes')
      .select('id')
      .where('name', '=', name)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    return row !== undefined;
  }

  async #tenantCounts(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('tenants')
      .select(['data_plane_id', (eb) => eb.fn.countAll<string | number>().as('n')])
      .where('data_plane_id', 'in', ids)
      .where('purged_at', 'is', null)
      .groupBy('data_plane_id')
      .execute();
    return new Map(rows.map((r) => [r.data_plane_id ?? '', Number(r.n)]));
  }
}

/** The name of a tenant's customer data plane: its id, as a name may spell it. */
/**
 * Makes the data plane a `byoi` or `byoi_agent` tenant will hold alone, in the transaction that
 * registers the tenant (the foreign key from the plane to the tenant is checked at commit, migration
 * 0033): `customer`, waiting for the connection details the customer gives, or `agent`, reached
 * only by the agent that enrols for it.
 */
export async function createTenantDataPlane(
  tx: Transaction<Schema>,
  tenantId: string,
  kind: 'customer' | 'agent',
  id: string,
): Promise<void> {
  await tx
    .insertInto('data_planes')
    .values({
      id,
      name: kind === 'customer' ? customerPlaneName(tenantId) : `agent-${tenantId.replaceAll('_', '-')}`,
      kind,
      tenant_id: tenantId,
      connection_sealed: null,
      health_detail: null,
      health_checked_at: null,
      retired_at: null,
    })
    .execute();
}

export function customerPlaneName(tenantId: string): string {
  return `byoi-${tenantId.replaceAll('_', '-')}`;
}

/** The domain error of a connection problem: its code, its detail, and `missing` for privileges. */
export function problemOf(problem: ConnectionProblem) {
  return fail(problem.code, problem.detail, problem.missing ? { details: { missing: problem.missing } } : {});
}

interface TenantRow {
  id: string;
  state: string;
  placement: string;
  resources: PlacementResources | null;
}

async function findTenant(db: Kysely<Schema>, ref: string, lock?: 'share'): Promise<TenantRow | undefined> {
  let query = db
    .selectFrom('tenants')
    .select(['id', 'state', 'placement', 'resources'])
    .where((eb) => eb.or([eb('id', '=', ref), eb.and([eb('slug', '=', ref), eb('state', '<>', 'deleted')])]));
  if (lock === 'share') query = query.forShare();
  return (await query.executeTakeFirst()) as TenantRow | undefined;
}

function byoiRefusal(tenant: TenantRow | undefined, ref: string) {
  if (!tenant) return tenantNotFound(ref);
  if (tenant.state === 'deleted')
    return fail('tenant_deleted', `tenant ${tenant.id} is deleted: it has no data connection`);
  if (tenant.placement !== 'byoi')
    return fail(
      'data_plane_not_byoi',
      `tenant ${tenant.id} is placed on ${tenant.placement}, not byoi: its data lives on a vendor data plane`,
    );
  return undefined;
}

function appSchemaOf(resources: PlacementResources | null): string {
  return resources?.placement === 'byoi' ? resources.schema : DEFAULT_APP_SCHEMA;
}

async function customerPlane(db: Kysely<Schema>, tenantId: string): Promise<Row | undefined> {
  return db
    .selectFrom('data_planes')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', 'customer')
    .where('retired_at', 'is', null)
    .where('connection_sealed', 'is not', null)
    .executeTakeFirst();
}

async function liveTenants(tx: Transaction<Schema>, id: string): Promise<number> {
  const row = await tx
    .selectFrom('tenants')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('data_plane_id', '=', id)
    .where('purged_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

function metadataOf(details: ConnectionDetails, inspection: Inspection): Record<string, string> {
  return {
    host: details.host,
    port: String(details.port),
    database: details.database,
    user: details.user,
    sslmode: details.sslmode,
    server_version: inspection.serverVersion,
    can_create_databases: String(inspection.canCreateDatabases),
  };
}

function refOf(row: Row) {
  return { data_plane_id: row.id, name: row.name, kind: row.kind, region: row.region };
}

function iso(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

export function viewOf(row: Row, tenants: number): DataPlaneView {
  const m = row.metadata;
  const connection =
    m.host !== undefined && m.port !== undefined && m.database !== undefined && m.user !== undefined
      ? {
          host: m.host,
          port: Number(m.port),
          database: m.database,
          user: m.user,
          sslmode: (m.sslmode ?? 'verify-full') as SslMode,
        }
      : null;
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    region: row.region,
    capacity: row.capacity,
    tenant_id: row.tenant_id,
    tenants,
    health: row.health,
    health_detail: row.health_detail,
    health_checked_at: iso(row.health_checked_at),
    server_version: m.server_version ?? null,
    connection: row.connection_sealed === null ? null : connection,
    created_at: iso(row.created_at) ?? '',
    updated_at: iso(row.updated_at) ?? '',
    retired_at: iso(row.retired_at),
  };
}

function nameErrors(name: string): FieldError[] {
  return NAME.test(name)
    ? []
    : [{ path: 'name', message: 'must be 1 to 63 of a-z, 0-9 and "-", starting with a letter or digit' }];
}

function regionErrors(region: string | undefined): FieldError[] {
  return region === undefined || REGION.test(region)
    ? []
    : [{ path: 'region', message: 'must be 1 to 63 of a-z, 0-9 and "-" (e.g. "eu-west-1")' }];
}

function capacityErrors(capacity: number | undefined): FieldError[] {
  return capacity === undefined || (Number.isInteger(capacity) && capacity > 0)
    ? []
    : [{ path: 'capacity', message: 'must be a whole number of tenants above 0' }];
}

function invalid(errors: readonly FieldError[]) {
  return fail('validation_failed', `invalid fields: ${errors.map((e) => e.path).join(', ')}`, { errors });
}

function notFound(id: string) {
  return fail('data_plane_not_found', `no data plane has the id "${id}"`);
}

function nameTaken(name: string) {
  return fail('data_plane_name_taken', `a live data plane is named "${name}" already`, { details: { name } });
}

function tenantNotFound(ref: string) {
  return fail('tenant_not_found', `no tenant has the id or slug "${ref}"`);
}

function connectionNotFound(tenantId: string) {
  return fail('data_connection_not_found', `tenant ${tenantId} has no data connection: set it with PUT`);
}

/** A unique violation of the live-name index, as null; anything else rethrown. */
function uniqueName(error: unknown): null {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e.code === '23505' && String(e.constraint ?? e.message).includes('data_planes_name_live')) return null;
  throw error;
}
