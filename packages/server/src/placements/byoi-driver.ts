import { createHash } from 'node:crypto';
import { canonicalJson } from '@tenantry/core';
import type { SqlSession } from '@tenantry/sdk';
import { CompiledQuery, sql } from 'kysely';
import {
  type DataPlaneConnector,
  type DataPlaneDb,
  type DataPlaneService,
  DataPlaneUnavailableError,
} from '../data-planes/index.ts';
import type {
  PlacedTenant,
  PlacementCheck,
  PlacementDriver,
  ProvisionStep,
  StepOutcome,
  TableBatch,
  TableDigest,
} from './placement-driver.ts';

type Byoi = PlacedTenant<'byoi'>;

/** Rows per batch of an export. */
const BATCH_ROWS = 500;
/** The runner's own table, which a move does not carry (the target has its own history). */
const MIGRATIONS_TABLE = 'tenantry_migrations';

/**
 * The `byoi` placement: the tenant's data lives in the customer's own PostgreSQL, reached with the
 * connection details the customer (or the operator) gave (`PUT /v1/tenants/{id}/data-connection`),
 * which are its `customer` data plane. Provisioning waits for them, validates them again, makes
 * the app's schema (owned by the customer's role) and runs the vendor's migrations there.
 *
 * Deprovisioning never drops anything in the customer's database: the data is the customer's.
 * It closes the data plane's connections; deleting the tenant destroys its data key, which is the
 * only key to the sealed connection (crypto-shredding), and the customer revokes the role.
 */
export class ByoiDriver implements PlacementDriver<'byoi'> {
  readonly placement = 'byoi';
  readonly steps: readonly ProvisionStep<'byoi'>[];
  readonly #dataPlanes: DataPlaneService;
  readonly #connector: DataPlaneConnector & { forget(dataPlane: string): Promise<void> };
  readonly #appMigrationsDir: string | undefined;
  /** '' for none: the runner then installs no binding, and never reads the environment. */
  readonly #bindingKey: string;

  constructor(deps: {
    dataPlanes: DataPlaneService;
    /** RegisteredDataPlanes: each customer database behind its own breaker and bulkhead. */
    connector: DataPlaneConnector & { forget(dataPlane: string): Promise<void> };
    /** TENANTRY_APP_MIGRATIONS: the vendor's migrations, applied to each new tenant's schema. */
    appMigrationsDir?: string | undefined;
    /** TENANTRY_BINDING_KEY: the vendor's key, from which the runner derives this tenant's own. */
    bindingKey?: string | undefined;
  }) {
    this.#dataPlanes = deps.dataPlanes;
    this.#connector = deps.connector;
    this.#appMigrationsDir = deps.appMigrationsDir;
    this.#bindingKey = deps.bindingKey ?? '';
    this.steps = [
      { name: 'connection', run: (tenant) => this.#connection(tenant) },
      { name: 'schema', run: (tenant) => this.#schema(tenant) },
      { name: 'app_migrations', run: (tenant) => this.#appMigrations(tenant) },
    ];
  }

  /**
   * Waits for the tenant's data connection; once there, validates it again (the customer may
   * have changed the role since) and records its data plane and database in the resources.
   */
  async #connection(tenant: Byoi): Promise<StepOutcome<'byoi'>> {
    const found = await this.#dataPlanes.customerDetails(tenant.id);
    if (!found.ok) return { status: 'failed', code: found.error.code, detail: found.error.detail };
    if (found.value === null)
      return {
        status: 'waiting',
        for: 'customer_connection',
        detail: `set the connection to the customer's database: PUT /v1/tenants/${tenant.id}/data-connection`,
      };
    const { dataPlane, details } = found.value;
    const inspected = await this.#dataPlanes.inspect(details, {
      kind: 'customer',
      schema: tenant.resources.schema,
    });
    if (!inspected.ok) {
      // A server down for a while is retried; a refusal waits for someone to change something.
      if (inspected.error.code === 'data_plane_unreachable')
        throw new DataPlaneUnavailableError(dataPlane, inspected.error.detail);
      return { status: 'failed', code: inspected.error.code, detail: inspected.error.detail };
    }
    return {
      status: 'done',
      resources: { ...tenant.resources, data_plane: dataPlane, database: details.database },
    };
  }

  /** Makes the app's schema as the customer's role, or keeps it when that role owns it already. */
  async #schema(tenant: Byoi): Promise<StepOutcome<'byoi'>> {
    const { schema } = tenant.resources;
    return this.#connector.run(tenant.resources.data_plane, async (db) => {
      const owner = await schemaOwner(db, schema);
      if (owner === null) {
        await sql`create schema ${sql.id(schema)}`.execute(db);
        return { status: 'done' };
      }
      if (!owner.mine)
        return {
          status: 'failed',
          code: 'data_plane_privilege_missing',
          detail: `schema "${schema}" in the customer's database belongs to "${owner.owner}", not to the role Tenantry logs in as; it is not taken over`,
        };
      return { status: 'done' };
    });
  }

  /** The vendor's migrations (TENANTRY_APP_MIGRATIONS) with the SDK's runner, in one transaction. */
  async #appMigrations(tenant: Byoi): Promise<StepOutcome<'byoi'>> {
    const dir = this.#appMigrationsDir;
    if (dir === undefined) return { status: 'done' };
    // Loaded on first use: a control plane without TENANTRY_APP_MIGRATIONS never needs the SDK.
    const { migrateTarget, readMigrations } = await import('@tenantry/sdk');
    const migrations = await readMigrations(dir);
    const { schema, database } = tenant.resources;
    const result = await this.#connector.run(tenant.resources.data_plane, (db) =>
      db.connection().execute((conn) =>
        migrateTarget(
          session(conn),
          // The customer's database holds this tenant only: migrated as the role Tenantry logs in
          // as (the schema's owner), with the binding installed under the tenant's own key when
          // TENANTRY_BINDING_KEY is set (the runner derives it for a byoi target, as the
          // coordinator's byoi targets are migrated too).
          { placement: 'byoi', tenantId: tenant.id, slug: null, schema, role: null, database },
          migrations,
          { bindingKey: this.#bindingKey },
        ),
      ),
    );
    // As for vendor placements (provisioning/app-migrations.ts): thrown, so the workflow retries
    // and then fails the tenant with the reason; the customer's schema is left as it was.
    if (result.status === 'failed')
      throw new Error(
        `app migration failed (TENANTRY_APP_MIGRATIONS) in the customer's database, which is left as it was: ${result.error?.message}`,
      );
    return { status: 'done' };
  }

  async check(tenant: Byoi): Promise<PlacementCheck> {
    const found = await this.#dataPlanes.customerDetails(tenant.id);
    if (!found.ok) return { ok: false, problems: [found.error.detail] };
    if (found.value === null) return { ok: false, problems: ['the tenant has no data connection'] };
    const inspected = await this.#dataPlanes.inspect(found.value.details, {
      kind: 'customer',
      schema: tenant.resources.schema,
    });
    if (!inspected.ok) return { ok: false, problems: [`${inspected.error.code}: ${inspected.error.detail}`] };
    const owner = await this.#connector.run(found.value.dataPlane, (db) =>
      schemaOwner(db, tenant.resources.schema),
    );
    if (owner === null)
      return { ok: false, problems: [`schema "${tenant.resources.schema}" does not exist`] };
    return { ok: true, problems: [] };
  }

  /** Closes the customer database's connections; drops nothing there (see the class's comment). */
  async deprovision(tenant: Byoi): Promise<void> {
    await this.#connector.forget(tenant.resources.data_plane);
  }

  async *export(tenant: Byoi): AsyncIterable<TableBatch> {
    const { data_plane: plane, schema } = tenant.resources;
    for (const table of await this.#connector.run(plane, (db) => appTables(db, schema))) {
      for (let offset = 0; ; offset += BATCH_ROWS) {
        const batch = await this.#connector.run(plane, (db) => readRows(db, schema, table, offset));
        if (batch.rows.length === 0) break;
        yield batch;
        if (batch.rows.length < BATCH_ROWS) break;
      }
    }
  }

  async import(tenant: Byoi, batches: AsyncIterable<TableBatch>): Promise<void> {
    const { data_plane: plane, schema } = tenant.resources;
    for await (const batch of batches) {
      if (batch.rows.length === 0) continue;
      const columns = batch.columns.map((c) => sql.id(c));
      await this.#connector.run(plane, (db) =>
        sql`insert into ${sql.id(schema, batch.table)} (${sql.join(columns)}) values ${sql.join(
          batch.rows.map((row) => sql`(${sql.join(row.map((value) => sql`${value}`))})`),
        )}`.execute(db),
      );
    }
  }

  async verify(tenant: Byoi): Promise<readonly TableDigest[]> {
    const { data_plane: plane, schema } = tenant.resources;
    const digests: TableDigest[] = [];
    for (const table of await this.#connector.run(plane, (db) => appTables(db, schema))) {
      const hash = createHash('sha256');
      let rows = 0;
      for (let offset = 0; ; offset += BATCH_ROWS) {
        const batch = await this.#connector.run(plane, (db) => readRows(db, schema, table, offset));
        for (const row of batch.rows) hash.update(`${canonicalJson(row)}\n`);
        rows += batch.rows.length;
        if (batch.rows.length < BATCH_ROWS) break;
      }
      digests.push({ table, rows, sha256: hash.digest('hex') });
    }
    return digests;
  }
}

async function schemaOwner(
  db: DataPlaneDb,
  schema: string,
): Promise<{ owner: string; mine: boolean } | null> {
  const found = await sql<{ owner: string; mine: boolean }>`
    select pg_get_userbyid(nspowner) as owner, pg_has_role(current_user, nspowner, 'MEMBER') as mine
      from pg_namespace where nspname = ${schema}`.execute(db);
  return found.rows[0] ?? null;
}

/** The app's tables in `schema`, by name, without the migration runner's own. */
async function appTables(db: DataPlaneDb, schema: string): Promise<string[]> {
  const found = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ${schema} and c.relkind in ('r', 'p') and c.relname <> ${MIGRATIONS_TABLE}
     order by 1`.execute(db);
  return found.rows.map((r) => r.name);
}

/** One batch of `table`'s rows in primary-key order (every column, when it has no primary key). */
async function readRows(db: DataPlaneDb, schema: string, table: string, offset: number): Promise<TableBatch> {
  const columns = (
    await sql<{ name: string; key: number | null }>`
      select a.attname as name, array_position(i.indkey::int2[], a.attnum) as key
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        left join pg_index i on i.indrelid = c.oid and i.indisprimary
       where n.nspname = ${schema} and c.relname = ${table} and a.attnum > 0 and not a.attisdropped
       order by a.attnum`.execute(db)
  ).rows;
  const keyed = columns.filter((c) => c.key !== null).sort((a, b) => (a.key ?? 0) - (b.key ?? 0));
  const order = (keyed.length > 0 ? keyed : columns).map((c) => sql.id(c.name));
  const names = columns.map((c) => c.name);
  const rows = await sql<Record<string, unknown>>`
    select ${sql.join(names.map((n) => sql.id(n)))} from ${sql.id(schema, table)}
     order by ${sql.join(order)} limit ${BATCH_ROWS} offset ${offset}`.execute(db);
  return { table, columns: names, rows: rows.rows.map((row) => names.map((n) => row[n])) };
}

/** The runner's session over one Kysely connection. */
function session(conn: DataPlaneDb): SqlSession {
  return {
    query: async (text, params = []) => {
      const result = await conn.executeQuery(CompiledQuery.raw(text, params));
      return { rows: result.rows as Record<string, unknown>[] };
    },
  };
}
