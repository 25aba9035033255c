import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, provisionedTenant, query } from '../../test/tenant-support.ts';
import type { PlacedTenant, PlacementDriver, TableBatch } from './index.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(() => t.close());

/** The app's tables, with a name an attacker might pick, as the fleet migrations would make them. */
const TABLES = `
  create table notes (id bigint primary key, title text, body jsonb, at timestamptz, amount numeric,
    tags text[], raw bytea, tenant_id text);
  create table "Odd ""name""; drop table notes; --" (b text, a int, note text, primary key (b, a));`;

const ROWS = `
  insert into notes values
    (9007199254740993, 'past 2^53', '{"k": [1, 2.50, "é"]}', '2026-11-10 12:00:00+00', 12345678901234567890.0123, '{a,"b c"}', '\\x00ff', 'ten_whoever'),
    (2, null, null, null, null, null, null, null),
    (1, 'first', '"text"', '1999-12-31 23:59:59.999999+00', -0.5, '{}', '\\x', null);
  insert into "Odd ""name""; drop table notes; --" values ('z', 1, 'last'), ('a', 2, 'second'), ('a', 1, 'first');`;

function placed(tenant: { id: string; resources: unknown }): PlacedTenant {
  return { id: tenant.id, resources: tenant.resources as PlacedTenant['resources'] };
}

function driverOf(placement: 'pool' | 'schema' | 'database'): PlacementDriver {
  const driver = t.services.placements.get(placement);
  if (driver === undefined) throw new Error(`no ${placement} driver`);
  return driver as unknown as PlacementDriver;
}

/** Runs `text` in a schema tenant's schema, as its role (as the fleet migrations do). */
async function inSchema(tenant: { id: string }, text: string) {
  await query(
    t,
    `begin; set local role "tenantry_${tenant.id}"; set local search_path to "${tenant.id}"; ${text}; commit`,
  );
}

async function collect(batches: AsyncIterable<TableBatch>): Promise<TableBatch[]> {
  const all: TableBatch[] = [];
  for await (const batch of batches) all.push(batch);
  return all;
}

describe('export, import and verify', () => {
  it('moves a schema tenant’s rows into another schema tenant, and both verify to the same digests', async () => {
    const source = await provisionedTenant(t, { placement: 'schema' });
    const target = await provisionedTenant(t, { placement: 'schema' });
    await inSchema(source, TABLES + ROWS);
    await inSchema(target, TABLES);
    const schema = driverOf('schema');

    const batches = await collect(schema.export(placed(source)));
    // Primary-key order, values as PostgreSQL's text (exact past 2^53), tenant_id left out.
    expect(batches.map((b) => b.table)).toEqual(['Odd "name"; drop table notes; --', 'notes']);
    expect(batches[1]?.columns).toEqual(['id', 'title', 'body', 'at', 'amount', 'tags', 'raw']);
    expect(batches[1]?.rows.map((r) => r[0])).toEqual(['1', '2', '9007199254740993']);
    expect(batches[0]?.rows).toEqual([
      ['a', '1', 'first'],
      ['a', '2', 'second'],
      ['z', '1', 'last'],
    ]);

    await schema.import(placed(target), schema.export(placed(source)));
    const [from, to] = [await schema.verify(placed(source)), await schema.verify(placed(target))];
    expect(from.map((d) => [d.table, d.rows])).toEqual([
      ['Odd "name"; drop table notes; --', 3],
      ['notes', 3],
    ]);
    expect(to).toEqual(from);
    // The target's tenant_id is its own.
    expect(await query(t, `select tenant_id from "${target.id}".notes where id = 9007199254740993`)).toEqual([
      { tenant_id: target.id },
    ]);

    // A digest tells a changed value.
    await query(t, `update "${target.id}".notes set amount = amount + 0.0001 where id = 9007199254740993`);
    const changed = await schema.verify(placed(target));
    expect(changed.find((d) => d.table === 'notes')?.sha256).not.toBe(
      from.find((d) => d.table === 'notes')?.sha256,
    );
  });

  it('exports only the pool tenant’s own rows, which verify equal after a move into a schema tenant', async () => {
    const mine = await provisionedTenant(t, { placement: 'pool' });
    const other = await provisionedTenant(t, { placement: 'pool' });
    const target = await provisionedTenant(t, { placement: 'schema' });
    const table = `items_${mine.id}`;
    await query(
      t,
      `create table public.${table} (tenant_id text, id int, label text, primary key (tenant_id, id))`,
    );
    await query(
      t,
      `insert into public.${table} values ('${other.id}', 1, 'not mine'), ('${mine.id}', 2, 'b'), ('${mine.id}', 1, 'a')`,
    );
    await inSchema(target, `create table ${table} (id int primary key, label text)`);
    const pool = driverOf('pool');
    const exported = (await collect(pool.export(placed(mine)))).filter((b) => b.table === table);
    expect(exported).toEqual([
      {
        table,
        columns: ['id', 'label'],
        rows: [
          ['1', 'a'],
          ['2', 'b'],
        ],
      },
    ]);
    const schema = driverOf('schema');
    await schema.import(
      placed(target),
      (async function* () {
        yield* exported;
      })(),
    );
    const ofTable = (digests: readonly { table: string }[]) => digests.filter((d) => d.table === table);
    expect(ofTable(await schema.verify(placed(target)))).toEqual(ofTable(await pool.verify(placed(mine))));
    await query(t, `drop table public.${table}`);
  });

  if (backend === 'postgres') {
    it('moves a schema tenant into a database tenant, whose public schema verifies to the same digests', async () => {
      const source = await provisionedTenant(t, { placement: 'schema' });
      const target = await provisionedTenant(t, { placement: 'database' });
      await inSchema(source, TABLES + ROWS);
      const database = driverOf('database');
      const r = target.resources as { database: string };
      // The tables in the tenant's database, made as its role.
      await t.services.dataPlaneConnector.runIn('dpl_default', r.database, async (db) => {
        const { sql } = await import('kysely');
        await sql.raw(`begin; set local role "tenantry_${target.id}"; ${TABLES}; commit`).execute(db);
      });
      const schema = driverOf('schema');
      await database.import(placed(target), schema.export(placed(source)));
      const from = await schema.verify(placed(source));
      expect(from.map((d) => d.rows)).toEqual([3, 3]);
      expect(await database.verify(placed(target))).toEqual(from);
    });
  }
});
