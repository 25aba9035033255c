import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl } from '../../../server/test/harness.ts';
import { rowLevelSecuritySql } from './row-level-security.ts';
import { ScopedStatement } from './scoped-statement.ts';
import { BINDING_SETTING, installTenantBinding, TenantBinder } from './tenant-binding.ts';

// A scratch database of its own: a pool table under the standard policy, a sequence (whose
// nextval is not undone by a rollback, so it shows whether a statement ran at all), and the
// app's login role with DML on both.
const suffix = randomBytes(4).toString('hex');
const database = `tenantry_scoped_${suffix}`;
const app = `tenantry_scoped_app_${suffix}`;

function urlFor(user: string): string {
  const url = new URL(adminUrl);
  url.username = user;
  url.password = '';
  url.pathname = `/${database}`;
  return url.toString();
}

let admin: pg.Client; // superuser, on the scratch database
let client: pg.Client; // the app role
const clients: pg.Client[] = [];

async function connectAs(user: string): Promise<pg.Client> {
  const connected = new pg.Client({ connectionString: urlFor(user) });
  await connected.connect();
  clients.push(connected);
  return connected;
}

const bindingKey = randomBytes(32);
const binder = new TenantBinder(bindingKey);

/** The tenant's binding for the backend of `on`. */
function bindingOn(on: pg.ClientBase, tenant: string): string {
  return binder.bind(tenant, (on as unknown as { processID: number }).processID);
}

function asTenant<R extends pg.QueryResultRow = pg.QueryResultRow>(
  tenant: string,
  text: string,
  values?: unknown[],
  on: pg.ClientBase = client,
): Promise<pg.QueryResult<R>> {
  return ScopedStatement.run<R>(on, BINDING_SETTING, bindingOn(on, tenant), text, values);
}

/** Makes `probe` as new: never called. */
async function resetProbe(): Promise<void> {
  await admin.query(`select setval('public.probe', 1, false)`);
}

/** Whether `nextval('probe')` ran since {@link resetProbe}: a sequence keeps its advance even when rolled back. */
async function probeRan(): Promise<boolean> {
  return (
    (await admin.query<{ is_called: boolean }>('select is_called from public.probe')).rows[0]?.is_called ??
    false
  );
}

beforeAll(async () => {
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  try {
    await server.query(`create database ${database}`);
    await server.query(`create role ${app} login`);
  } finally {
    await server.end();
  }
  admin = await connectAs(new URL(adminUrl).username || 'postgres');
  await installTenantBinding(admin, bindingKey);
  await admin.query(`
    create table public.notes (tenant_id text not null, id text not null, body text, primary key (tenant_id, id));
    ${rowLevelSecuritySql('notes')}
    grant select, insert, update, delete on public.notes to ${app};
    create sequence public.probe;
    grant usage, select on sequence public.probe to ${app};
    insert into public.notes values ('ten_a', 'a1', 'alpha'), ('ten_a', 'a2', 'alpha'), ('ten_b', 'b1', 'beta');`);
  client = await connectAs(app);
});

afterAll(async () => {
  for (const connected of clients) await connected.end().catch(() => {});
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  try {
    await server.query(`drop database if exists ${database} with (force)`);
    await server.query(`drop role if exists ${app}`);
  } finally {
    await server.end();
  }
});

describe('ScopedStatement', () => {
  it('runs the statement with the setting: each tenant sees only its rows', async () => {
    const a = await asTenant<{ id: string }>('ten_a', 'select id from notes order by id');
    const b = await asTenant<{ id: string }>('ten_b', 'select id from notes where id = $1', ['b1']);
    expect(a.rows).toEqual([{ id: 'a1' }, { id: 'a2' }]);
    expect(b.rows).toEqual([{ id: 'b1' }]);
    expect((await asTenant('ten_a', 'select id from notes where tenant_id = $1', ['ten_b'])).rows).toEqual(
      [],
    );
    const seen = await asTenant('ten_b', `select tenantry.current_tenant() as s`);
    expect(seen.rows).toEqual([{ s: 'ten_b' }]);
  });

  it('ends the setting at the Sync: the next plain query on the connection has no tenant and sees no rows', async () => {
    await asTenant('ten_a', 'select id from notes');
    const after = await client.query(`select coalesce(tenantry.current_tenant(), '') as s`);
    expect(after.rows).toEqual([{ s: '' }]);
    expect((await client.query('select id from notes')).rows).toEqual([]);
    expect(client.getTransactionStatus()).toBe('I');
  });

  it('answers what client.query would: command, row count, fields, rows through the type parsers, converted values', async () => {
    const at = new Date('2024-05-06T07:08:09.000Z');
    const result = await asTenant(
      'ten_a',
      'select 1::int4 as n, 2::int8 as big, $1::timestamptz as at, $2::jsonb as doc, $3::text[] as tags, null::text as nothing',
      [at, { a: [1, 2] }, ['x', 'y,z']],
    );
    expect(result.command).toBe('SELECT');
    expect(result.rowCount).toBe(1);
    expect(result.fields.map((f) => f.name)).toEqual(['n', 'big', 'at', 'doc', 'tags', 'nothing']);
    expect(result.rows).toEqual([
      { n: 1, big: '2', at, doc: { a: [1, 2] }, tags: ['x', 'y,z'], nothing: null },
    ]);
    const written = await asTenant(
      'ten_a',
      `insert into notes values ('ten_a', 'a3', 'new'), ('ten_a', 'a4', 'new')`,
    );
    expect({ command: written.command, rowCount: written.rowCount, rows: written.rows }).toEqual({
      command: 'INSERT',
      rowCount: 2,
      rows: [],
    });
    await admin.query(`delete from notes where id in ('a3', 'a4')`);
  });

  it('uses the client’s own type parsers', async () => {
    const parsing = new pg.Client({
      connectionString: urlFor(app),
      types: {
        getTypeParser: (oid: number) => (text: string) => `parsed ${oid}: ${text}`,
      } as pg.CustomTypesConfig,
    });
    await parsing.connect();
    clients.push(parsing);
    const result = await asTenant('ten_a', 'select 7::int4 as n', [], parsing);
    expect(result.rows).toEqual([{ n: 'parsed 23: 7' }]);
  });

  it('never runs the statement when the setting fails: a value the server refuses', async () => {
    await resetProbe();
    // A NUL byte is not valid text: the server refuses the setting's parameter at Bind.
    const error = await asTenant('ten_a\u0000', `select nextval('probe')`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(pg.DatabaseError);
    expect((error as Error).message).toContain('invalid byte sequence for encoding "UTF8": 0x00');
    expect(await probeRan()).toBe(false);
    expect(client.getTransactionStatus()).toBe('I');
  });

  it('never runs the statement when the setting fails: set_config refused to the role', async () => {
    await resetProbe();
    await admin.query('revoke execute on function pg_catalog.set_config(text, text, boolean) from public');
    try {
      const error = await asTenant('ten_a', `select nextval('probe')`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(pg.DatabaseError);
      expect((error as Error).message).toBe('permission denied for function set_config');
      const fresh = await connectAs(app);
      await expect(asTenant('ten_a', `select nextval('probe')`, [], fresh)).rejects.toThrow(
        'permission denied for function set_config',
      );
    } finally {
      await admin.query('grant execute on function pg_catalog.set_config(text, text, boolean) to public');
    }
    expect(await probeRan()).toBe(false);
    // The connection goes on, once set_config may run again.
    expect((await asTenant('ten_b', 'select id from notes')).rows).toEqual([{ id: 'b1' }]);
  });

  it('never runs the statement when the setting fails: a setting name the server refuses', async () => {
    await resetProbe();
    const error = await ScopedStatement.run(
      client,
      'no such setting',
      'ten_a',
      `select nextval('probe')`,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(pg.DatabaseError);
    expect((error as Error).message).toContain('no such setting');
    expect(await probeRan()).toBe(false);
  });

  it('after a failed statement, the connection is idle and the next tenant sees only its rows', async () => {
    await expect(asTenant('ten_a', 'select 1/0')).rejects.toThrow('division by zero');
    await expect(asTenant('ten_a', 'select * from no_such_table')).rejects.toThrow(
      'relation "no_such_table" does not exist',
    );
    expect(client.getTransactionStatus()).toBe('I');
    expect((await asTenant<{ id: string }>('ten_b', 'select id from notes')).rows).toEqual([{ id: 'b1' }]);
  });

  it('rolls a failed statement back with everything it did', async () => {
    await expect(
      asTenant('ten_a', `insert into notes values ('ten_a', 'a5', 'lost'), ('ten_a', 'a5', 'duplicate')`),
    ).rejects.toThrow('duplicate key value violates unique constraint');
    expect((await admin.query(`select id from notes where id = 'a5'`)).rows).toEqual([]);
  });

  it('refuses a value pg cannot convert without writing anything, and the connection goes on', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(asTenant('ten_a', 'select $1::jsonb', [circular])).rejects.toThrow(/circular/i);
    expect((await asTenant('ten_a', 'select count(*)::int as n from notes')).rows).toEqual([{ n: 2 }]);
  });

  it('prepares its setting statement again when the app deallocated it, without failing the next statement', async () => {
    const pid = (await asTenant('ten_a', 'select pg_backend_pid() as pid')).rows[0]?.pid;
    await asTenant('ten_a', 'deallocate all');
    const next = await asTenant('ten_b', 'select pg_backend_pid() as pid, array_agg(id) as ids from notes');
    expect(next.rows).toEqual([{ pid, ids: ['b1'] }]);
  });

  it('leaves a BEGIN’s transaction, and so the setting, open: the caller must check the transaction status', async () => {
    const probe = await connectAs(app);
    await asTenant('ten_a', 'begin', [], probe);
    expect(probe.getTransactionStatus()).toBe('T');
    expect((await probe.query(`select tenantry.current_tenant() as s`)).rows).toEqual([{ s: 'ten_a' }]);
    await probe.query('rollback');
  });

  it('is refused on a client in pipeline mode, which would misread its answers', async () => {
    const piped = new pg.Client({ connectionString: urlFor(app), pipeline: true } as pg.ClientConfig);
    await piped.connect();
    clients.push(piped);
    await expect(asTenant('ten_a', 'select 1', [], piped)).rejects.toThrow('not supported in pipeline mode');
  });
});

describe('ScopedStatement, keeping statements prepared', () => {
  /** The app statements prepared on `on`'s session, by text. */
  async function preparedOn(on: pg.Client): Promise<string[]> {
    const listed = await on.query<{ statement: string }>(
      `select statement from pg_prepared_statements
       where name like 'tenantry_scoped_%' and name <> 'tenantry_scoped_setting' order by statement`,
    );
    return listed.rows.map((r) => r.statement);
  }

  function asTenantPrepared<R extends pg.QueryResultRow = pg.QueryResultRow>(
    on: pg.Client,
    tenant: string,
    text: string,
    values?: unknown[],
    prepare = 10,
  ): Promise<pg.QueryResult<R>> {
    return ScopedStatement.run<R>(on, BINDING_SETTING, bindingOn(on, tenant), text, values, { prepare });
  }

  it('prepares a statement once per connection; under a generic plan each tenant still sees only its rows', async () => {
    const on = await connectAs(app);
    // A generic plan is made once, before any tenant is set: the tenant must be read at each run.
    await on.query('set plan_cache_mode = force_generic_plan');
    const text = 'select id from notes where id like $1 order by id';
    for (let round = 0; round < 3; round++) {
      expect((await asTenantPrepared(on, 'ten_a', text, ['%'])).rows).toEqual([{ id: 'a1' }, { id: 'a2' }]);
      expect((await asTenantPrepared(on, 'ten_b', text, ['%'])).rows).toEqual([{ id: 'b1' }]);
      expect((await asTenantPrepared(on, 'ten_c', text, ['%'])).rows).toEqual([]);
    }
    const plans = await on.query<{ generic_plans: string; custom_plans: string }>(
      'select generic_plans, custom_plans from pg_prepared_statements where statement = $1',
      [text],
    );
    expect(plans.rows).toEqual([{ generic_plans: '9', custom_plans: '0' }]);
    // No setting outlives its statement, prepared or not.
    expect((await on.query('select id from notes')).rows).toEqual([]);
  });

  it('closes the least recently used statement beyond its share', async () => {
    const on = await connectAs(app);
    for (const text of ['select 1 as a', 'select 2 as b', 'select 1 as a', 'select 3 as c'])
      await asTenantPrepared(on, 'ten_a', text, [], 2);
    expect(await preparedOn(on)).toEqual(['select 1 as a', 'select 3 as c']);
  });

  it('prepares a statement again when the app deallocated it, or all, and answers the statement', async () => {
    const on = await connectAs(app);
    const text = 'select array_agg(id order by id) as ids from notes';
    expect((await asTenantPrepared(on, 'ten_a', text)).rows).toEqual([{ ids: ['a1', 'a2'] }]);
    await asTenantPrepared(on, 'ten_a', 'deallocate all');
    expect((await asTenantPrepared(on, 'ten_b', text)).rows).toEqual([{ ids: ['b1'] }]);
    // Only this statement gone, the setting's kept: the statement's own Bind is refused.
    const { name } = (
      await on.query<{ name: string }>('select name from pg_prepared_statements where statement = $1', [text])
    ).rows[0] as { name: string };
    await on.query(`deallocate ${pg.escapeIdentifier(name)}`);
    expect((await asTenantPrepared(on, 'ten_a', text)).rows).toEqual([{ ids: ['a1', 'a2'] }]);
    expect(await preparedOn(on)).toEqual([text]);
  });

  it('prepares a statement again when a table it reads changed its columns', async () => {
    const on = await connectAs(app);
    await admin.query(`
      create table public.shapes (tenant_id text not null, name text not null);
      ${rowLevelSecuritySql('shapes')}
      grant select on public.shapes to ${app};
      insert into public.shapes values ('ten_a', 'circle'), ('ten_b', 'square');`);
    try {
      expect((await asTenantPrepared(on, 'ten_a', 'select * from shapes')).rows).toEqual([
        { tenant_id: 'ten_a', name: 'circle' },
      ]);
      await admin.query(`alter table public.shapes add column sides int not null default 0`);
      // Bound as prepared, the statement fails with "cached plan must not change result type".
      expect((await asTenantPrepared(on, 'ten_b', 'select * from shapes')).rows).toEqual([
        { tenant_id: 'ten_b', name: 'square', sides: 0 },
      ]);
    } finally {
      await admin.query('drop table public.shapes');
    }
  });

  it('leaves no statement of a failed round trip prepared, and the connection goes on', async () => {
    const on = await connectAs(app);
    await expect(asTenantPrepared(on, 'ten_a', 'select 1/0 as x')).rejects.toThrow('division by zero');
    await expect(asTenantPrepared(on, 'ten_a', 'select * from no_such_table')).rejects.toThrow(
      'relation "no_such_table" does not exist',
    );
    await expect(asTenantPrepared(on, 'ten_a\u0000', 'select 2 as y')).rejects.toThrow(
      'invalid byte sequence',
    );
    expect((await asTenantPrepared(on, 'ten_b', 'select id from notes')).rows).toEqual([{ id: 'b1' }]);
    expect(await preparedOn(on)).toEqual(['select id from notes']);
    expect(on.getTransactionStatus()).toBe('I');
  });
});
