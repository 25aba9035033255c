import { sql } from 'kysely';
import type { DataPlaneConnector } from '../data-planes/index.ts';
import { CONTROL_SCHEMA } from '../db/index.ts';
import type {
  PlacedTenant,
  PlacementCheck,
  PlacementDriver,
  ProvisionStep,
  TableBatch,
  TableDigest,
} from './placement-driver.ts';
import { digestTables, exportTables, importTables, type TenantTables } from './table-data.ts';

/**
 * `pool`: the tenant's rows live in the vendor's shared tables (the pool schema) on a vendor data
 * plane, keyed and row-level-secured by `tenant_id`; nothing is made for it. Its one step,
 * `data_plane`, makes sure the data plane answers before the tenant becomes active.
 */
export class PoolDriver implements PlacementDriver<'pool'> {
  readonly placement = 'pool';
  readonly steps: readonly ProvisionStep<'pool'>[];
  readonly #connector: DataPlaneConnector;
  /** The schema of the vendor's app tables that hold pool tenants' rows. */
  readonly #poolSchema: string;

  constructor(connector: DataPlaneConnector, poolSchema: string) {
    // Purging a pool tenant deletes its rows from every table of the pool schema with a
    // `tenant_id` column; pointed at the control plane's own schema, that would erase the
    // tenant's audit trail.
    if (poolSchema === CONTROL_SCHEMA)
      throw new Error(`the pool schema cannot be "${CONTROL_SCHEMA}", the control plane's own schema`);
    this.#connector = connector;
    this.#poolSchema = poolSchema;
    this.steps = [
      {
        name: 'data_plane',
        run: async ({ resources: r }) => {
          await this.#connector.run(r.data_plane, (db) => sql`select 1`.execute(db));
          return { status: 'done' };
        },
      },
    ];
  }

  async check({ resources: r }: PlacedTenant<'pool'>): Promise<PlacementCheck> {
    await this.#connector.run(r.data_plane, (db) => sql`select 1`.execute(db));
    return { ok: true, problems: [] };
  }

  /**
   * Deletes the tenant's rows from every table of the pool schema that has a `tenant_id` column:
   * tables only, since a view over them has no rows of its own and most views cannot be deleted
   * from.
   */
  async deprovision({ id, resources: r }: PlacedTenant<'pool'>): Promise<void> {
    await this.#connector.run(r.data_plane, async (db) => {
      const tables = await sql<{ table_name: string }>`
        select c.relname as table_name from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where n.nspname = ${this.#poolSchema} and c.relkind in ('r', 'p') and not c.relispartition`.execute(
        db,
      );
      for (const { table_name } of tables.rows)
        await sql`delete from ${sql.id(this.#poolSchema, table_name)} where tenant_id = ${id}`.execute(db);
    });
  }

  export(tenant: PlacedTenant<'pool'>): AsyncIterable<TableBatch> {
    return exportTables(this.#tables(tenant));
  }

  import(tenant: PlacedTenant<'pool'>, batches: AsyncIterable<TableBatch>): Promise<void> {
    return importTables(this.#tables(tenant), tenant.id, batches);
  }

  verify(tenant: PlacedTenant<'pool'>): Promise<readonly TableDigest[]> {
    return digestTables(this.#tables(tenant));
  }

  #tables({ id, resources: r }: PlacedTenant<'pool'>): TenantTables {
    return { use: (fn) => this.#connector.run(r.data_plane, fn), schema: this.#poolSchema, poolTenant: id };
  }
}
