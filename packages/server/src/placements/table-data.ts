import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { DataPlaneDb } from '../data-planes/index.ts';
import type { TableBatch, TableDigest } from './placement-driver.ts';

/** Rows read or written per statement when a tenant's data is exported or imported. */
const BATCH_ROWS = 500;

/**
 * The column that binds a row to its tenant in the pool (and in tables that keep it under a
 * schema or database too). It is the placement's, not the tenant's data: an export leaves it
 * out, an import sets it to the target tenant, and digests do not cover it, so that a tenant's
 * data compares equal wherever it lives.
 */
const TENANT_COLUMN = 'tenant_id';

/** The runner's own bookkeeping, which each target keeps for itself: never moved. */
const MIGRATIONS_TABLE = 'tenantry_migrations';

/** Where a tenant's app tables are on a data plane, and how to reach them. */
export interface TenantTables {
  /** Runs `fn` on the database that holds the tables. */
  use<T>(fn: (db: DataPlaneDb) => Promise<T>): Promise<T>;
  readonly schema: string;
  /** Pool: only tables with a `tenant_id` column, and only this tenant's rows of them. */
  readonly poolTenant?: string;
}

interface AppTable {
  readonly name: string;
  /** Its columns in order, less `tenant_id`. */
  readonly columns: readonly string[];
  /** Each column's type as `format_type` spells it (identifiers quoted). */
  readonly types: ReadonlyMap<string, string>;
  readonly hasTenantColumn: boolean;
  /** The primary key's columns (all columns when it has none): the order rows are read in. */
  readonly order: readonly string[];
}

/** The app's tables in the schema, by name; views and partitions hold no rows of their own. */
async function appTables(
  db: DataPlaneDb,
  where: Pick<TenantTables, 'schema' | 'poolTenant'>,
): Promise<AppTable[]> {
  const found = await sql<{ table: string; column: string; type: string; key: number | null }>`
    select c.relname as table, a.attname as column, format_type(a.atttypid, a.atttypmod) as type,
      array_position(i.indkey::int2[], a.attnum) as key
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join pg_index i on i.indrelid = c.oid and i.indisprimary
    where n.nspname = ${where.schema} and c.relkind in ('r', 'p') and not c.relispartition
      and c.relname <> ${MIGRATIONS_TABLE}
    order by c.relname, a.attnum`.execute(db);
  interface Found {
    columns: string[];
    types: Map<string, string>;
    tenant: boolean;
    keys: [number, string][];
  }
  const tables = new Map<string, Found>();
  for (const row of found.rows) {
    const table: Found = tables.get(row.table) ?? { columns: [], types: new Map(), tenant: false, keys: [] };
    tables.set(row.table, table);
    table.types.set(row.column, row.type);
    if (row.column === TENANT_COLUMN) table.tenant = true;
    else table.columns.push(row.column);
    if (row.key !== null && row.column !== TENANT_COLUMN) table.keys.push([row.key, row.column]);
  }
  return [...tables]
    .filter(([, table]) => table.columns.length > 0 && (where.poolTenant === undefined || table.tenant))
    .map(([name, table]) => ({
      name,
      columns: table.columns,
      types: table.types,
      hasTenantColumn: table.tenant,
      order: table.keys.length > 0 ? table.keys.sort((a, b) => a[0] - b[0]).map(([, c]) => c) : table.columns,
    }));
}

/**
 * A tenant's rows, table by table (in name order) and in primary-key order, in batches: each
 * value as PostgreSQL's text form (null stays null), which every type has and reads back exactly.
 */
export async function* exportTables(where: TenantTables): AsyncIterable<TableBatch> {
  const tables = await where.use((db) => appTables(db, where));
  for (const table of tables) {
    const target = sql.id(where.schema, table.name);
    const filter =
      where.poolTenant === undefined ? sql`true` : sql`${sql.id(TENANT_COLUMN)} = ${where.poolTenant}`;
    const columns = sql.join(table.columns.map((c, i) => sql`${sql.id(c)}::text as ${sql.id(`c${i}`)}`));
    const order = sql.join(table.order.map((c) => sql.id(c)));
    for (let offset = 0; ; offset += BATCH_ROWS) {
      const page = await where.use((db) =>
        sql<Record<string, string | null>>`
          select ${columns} from ${target} where ${filter}
          order by ${order} limit ${BATCH_ROWS} offset ${offset}`.execute(db),
      );
      if (page.rows.length === 0) break;
      yield {
        table: table.name,
        columns: table.columns,
        rows: page.rows.map((row) => table.columns.map((_, i) => row[`c${i}`] ?? null)),
      };
      if (page.rows.length < BATCH_ROWS) break;
    }
  }
}

/**
 * Writes exported batches into the tenant's tables of the same names: each value read back by its
 * column's type, and `tenant_id`, where a table has it, set to this tenant. Each batch is one
 * statement of its own, not one transaction for all: the batches are read from the source while
 * they are written, and a data plane may have one connection only (embedded PGlite). A move
 * verifies the target afterwards, and starts again on an emptied target when it differs.
 */
export async function importTables(
  where: TenantTables,
  tenantId: string,
  batches: AsyncIterable<TableBatch>,
): Promise<void> {
  const tables = new Map(
    (await where.use((db) => appTables(db, { schema: where.schema }))).map((t) => [t.name, t]),
  );
  for await (const batch of batches) {
    const table = tables.get(batch.table);
    if (table === undefined) throw new Error(`the target has no table "${batch.table}" to import into`);
    const columns = [...batch.columns, ...(table.hasTenantColumn ? [TENANT_COLUMN] : [])];
    const records = batch.rows.map((row) => {
      const values = table.hasTenantColumn ? [...row, tenantId] : row;
      return Object.fromEntries(values.map((value, i) => [`c${i}`, value]));
    });
    // Each value travels as text and is read by its column's type's input function, as COPY
    // would; the type names come from the target's catalog through format_type, which quotes them.
    const casts = columns.map((c, i) => {
      const type = table.types.get(c);
      if (type === undefined) throw new Error(`the target's table "${batch.table}" has no column "${c}"`);
      return sql`${sql.id('x', `c${i}`)}::${sql.raw(type)}`;
    });
    const shape = sql.join(columns.map((_, i) => sql`${sql.id(`c${i}`)} text`));
    const target = sql.id(where.schema, batch.table);
    await where.use((db) =>
      sql`insert into ${target} (${sql.join(columns.map((c) => sql.id(c)))})
        select ${sql.join(casts)} from jsonb_to_recordset(${JSON.stringify(records)}::jsonb) as x(${shape})`.execute(
        db,
      ),
    );
  }
}

/** Each table's row count and SHA-256 over its rows' text, in primary-key order. */
export async function digestTables(where: TenantTables): Promise<TableDigest[]> {
  const digests = new Map<string, { rows: number; hash: ReturnType<typeof createHash> }>();
  const tables = await where.use((db) => appTables(db, where));
  for (const table of tables) digests.set(table.name, { rows: 0, hash: createHash('sha256') });
  for await (const batch of exportTables(where)) {
    const digest = digests.get(batch.table);
    if (digest === undefined) continue;
    for (const row of batch.rows) {
      digest.hash.update(`${JSON.stringify(row)}\n`);
      digest.rows++;
    }
  }
  return [...digests].map(([table, d]) => ({ table, rows: d.rows, sha256: d.hash.digest('hex') }));
}
