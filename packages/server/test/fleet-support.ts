import { type Kysely, sql } from 'kysely';
import type { Schema } from '../src/db/index.ts';

/**
 * `count` copies of the tenant `template` (one the API created and provisioned), each with its own
 * id (`ten_fleet000001`…), slug (`fleet-1`…) and name (`Fleet tenant 1`…) and every tenth
 * suspended: rows as the API writes them, in one statement, for tests and benchmarks of a large
 * fleet. The columns are read from the table, so that a column added later is copied too.
 *
 * The table's secondary indexes are dropped for the insert and made again after it, from their
 * definitions as the catalog has them (so an index a later migration adds is made again too): a
 * GIN index built over the whole table at once costs a fraction of one updated row by row, which
 * the trigram indexes of the tenant search (`fastupdate = off`) are.
 */
export async function insertFleet(db: Kysely<Schema>, template: string, count: number): Promise<void> {
  const columns = await sql<{ column_name: string }>`
    select column_name from information_schema.columns
    where table_schema = 'tenantry' and table_name = 'tenants' order by ordinal_position`.execute(db);
  const own: Record<string, string> = {
    id: `'ten_fleet' || lpad(g::text, 6, '0')`,
    slug: `'fleet-' || g`,
    name: `'Fleet tenant ' || g`,
    state: `case when g % 10 = 0 then 'suspended' else t.state end`,
  };
  const names = columns.rows.map((c) => c.column_name);
  const values = names.map((name) => own[name] ?? `t.${name}`);
  // Every index of the table but those behind a constraint (the primary key), which other tables'
  // foreign keys depend on.
  const indexes = await sql<{ name: string; definition: string }>`
    select c.relname as name, pg_get_indexdef(i.indexrelid) as definition
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid = 'tenantry.tenants'::regclass
      and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)`.execute(db);
  await db.transaction().execute(async (tx) => {
    for (const index of indexes.rows) await sql`drop index tenantry.${sql.id(index.name)}`.execute(tx);
    await sql`
      insert into tenantry.tenants (${sql.raw(names.join(', '))})
      select ${sql.raw(values.join(', '))} from tenantry.tenants t, generate_series(1, ${sql.lit(Math.trunc(count))}) g
      where t.id = ${template}`.execute(tx);
    for (const index of indexes.rows) await sql.raw(index.definition).execute(tx);
  });
  // As autovacuum would after such an insert: the planner's statistics count the fleet.
  await sql`analyze tenantry.tenants`.execute(db);
}
