import { type Kysely, sql } from 'kysely';
import type { Schema } from '../src/db/index.ts';

/**
 * `count` copies of the tenant `template` (one the API created and provisioned), each with its own
 * id (`ten_fleet000001`…), slug (`fleet-1`…) and name (`Fleet tenant 1`…) and every tenth
 * suspended: rows as the API writes them, in one statement, for tests and benchmarks of a large
 * fleet. The columns are read from the table, so that a column added later is copied too.
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
  await sql`
    insert into tenantry.tenants (${sql.raw(names.join(', '))})
    select ${sql.raw(values.join(', '))} from tenantry.tenants t, generate_series(1, ${sql.lit(Math.trunc(count))}) g
    where t.id = ${template}`.execute(db);
  // As autovacuum would after such an insert: the planner's statistics count the fleet.
  await sql`analyze tenantry.tenants`.execute(db);
}
