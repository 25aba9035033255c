import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, type TestApp } from '../../../server/test/harness.ts';
import { act, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { startDataPlane } from '../../test/data-plane-support.ts';
import { NoTenantContextError, runAsTenant } from '../context/index.ts';
import { ControlPlaneClient } from '../control-plane/index.ts';
import { PlacementDirectory, TenantUnavailableError } from './placement-directory.ts';
import { rowLevelSecuritySql } from './row-level-security.ts';
import { schemaTenantSql, TENANT_POLICY } from './tenant-binding.ts';
import {
  RowLevelSecurityError,
  type TenantClient,
  TenantData,
  TransactionLeftOpenError,
  TransactionRolledBackError,
} from './tenant-data.ts';

// The data plane is the control plane's own PostgreSQL server, as in a default install: pool
// tables in `public` of its database, schema tenants beside them, database tenants next to it.
// The app connects as one login role that the control plane grants access to every tenant's
// tables (and CONNECT on each tenant database), never a tenant's role.
const appRole = `tenantry_sdk_app_${randomBytes(4).toString('hex')}`;
const bindingKey = randomBytes(32).toString('hex');

let t: TestApp;
let controlPlaneUrl: string;
let dbUrl: string; // the control plane's database, as the admin
let admin: pg.Client; // superuser on that database
let placements: PlacementDirectory;
let data: TenantData;
const opened: { end(): Promise<void> }[] = [];
const tenants = {} as Record<'poolA' | 'poolB' | 'schemaA' | 'schemaB' | 'databaseA' | 'databaseB', string>;

function urlAs(user: string, database?: string): string {
  const url = new URL(dbUrl);
  url.username = user;
  url.password = '';
  if (database !== undefined) url.pathname = `/${database}`;
  return url.toString();
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  opened.push(client);
  return client;
}

function as<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
  return runAsTenant({ tenantId, subject: 'user_1', roles: [] }, fn);
}

/** The ids the tenant sees in its notes table, through the SDK. */
function ids(tenantId: string, from = 'notes'): Promise<string[]> {
  return as(tenantId, () =>
    data.transaction(async (db) =>
      (await db.query(`select id from ${from} order by id`)).rows.map((r) => r.id),
    ),
  );
}

/** Runs `sql` as the tenant through the SDK and returns the error it fails with. */
async function failure(tenantId: string, sql: string): Promise<Error> {
  const error = await as(tenantId, () => data.transaction((db) => db.query(sql))).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

beforeAll(async () => {
  ({ t, dbUrl, admin, controlPlaneUrl } = await startDataPlane(appRole, bindingKey));
  opened.push(admin);

  for (const [key, placement] of [
    ['poolA', 'pool'],
    ['poolB', 'pool'],
    ['schemaA', 'schema'],
    ['schemaB', 'schema'],
    ['databaseA', 'database'],
    ['databaseB', 'database'],
  ] as const) {
    const tenant = await provisionedTenant(t, { placement });
    expect(tenant.state).toBe('active');
    tenants[key] = tenant.id;
  }
  const { poolA, poolB, schemaA, schemaB, databaseA, databaseB } = tenants;
  await admin.query(
    `insert into public.notes values ($1, 'a1', 'pool A'), ($1, 'a2', 'pool A'), ($2, 'b1', 'pool B')`,
    [poolA, poolB],
  );
  // Each tenant's own table, made as its role (as the fleet migrations do), with its own rows.
  for (const [tenantId, row] of [
    [schemaA, 'sa1'],
    [schemaB, 'sb1'],
  ] as const) {
    await admin.query(`set role "tenantry_${tenantId}"`);
    await admin.query(`create table "${tenantId}".notes (id text primary key, body text)`);
    await admin.query(`insert into "${tenantId}".notes values ('${row}', 'schema')`);
    // As the fleet migrations put it on every table of a schema tenant.
    await admin.query(schemaTenantSql(tenantId, 'notes', tenantId));
    await admin.query('reset role');
  }
  for (const [tenantId, row] of [
    [databaseA, 'da1'],
    [databaseB, 'db1'],
  ] as const) {
    const tenantDb = await connect(urlAs(new URL(dbUrl).username, `tenantry_${tenantId}`));
    await tenantDb.query(`set role "tenantry_${tenantId}"`);
    await tenantDb.query(`create table notes (id text primary key, body text)`);
    await tenantDb.query(`insert into notes values ('${row}', 'database')`);
    await tenantDb.end();
    opened.pop();
  }

  placements = new PlacementDirectory({
    controlPlane: new ControlPlaneClient({ url: controlPlaneUrl, token: t.token }),
  });
  // One connection to the shared database: every pool and schema transaction reuses it in turn.
  data = new TenantData({ url: urlAs(appRole), placements, max: 1, bindingKey });
  await data.start();
});

afterAll(async () => {
  await data?.close();
  for (const client of opened) await client.end().catch(() => {});
  await t?.close();
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  await server.query(`drop role if exists ${appRole}`);
  await server.end();
});

describe('pool placement', () => {
  it('sees only its own rows', async () => {
    expect(await ids(tenants.poolA)).toEqual(['a1', 'a2']);
    expect(await ids(tenants.poolB)).toEqual(['b1']);
  });

  it('cannot read, update or delete another tenant’s rows, even by naming its id', async () => {
    const { poolA, poolB } = tenants;
    const result = await as(poolA, () =>
      data.transaction(async (db) => ({
        read: (await db.query('select id from notes where tenant_id = $1', [poolB])).rows,
        updated: (await db.query(`update notes set body = 'overwritten' where tenant_id = $1`, [poolB]))
          .rowCount,
        deleted: (await db.query('delete from notes where tenant_id = $1', [poolB])).rowCount,
      })),
    );
    expect(result).toEqual({ read: [], updated: 0, deleted: 0 });
    expect(
      (await admin.query('select tenant_id, body from public.notes where id = $1', ['b1'])).rows,
    ).toEqual([{ tenant_id: poolB, body: 'pool B' }]);
  });

  it('cannot move its row to another tenant with UPDATE, nor INSERT a row with another tenant’s id', async () => {
    const { poolA, poolB } = tenants;
    const moved = await failure(poolA, `update notes set tenant_id = '${poolB}' where id = 'a1'`);
    expect(moved.message).toMatch(/new row violates row-level security policy for table "notes"/);
    const planted = await failure(poolA, `insert into notes values ('${poolB}', 'planted', 'from A')`);
    expect(planted.message).toMatch(/new row violates row-level security policy for table "notes"/);
    expect(await ids(poolB)).toEqual(['b1']);
    expect(await ids(poolA)).toEqual(['a1', 'a2']);
  });

  it('writes its own rows, which only it sees', async () => {
    const { poolA, poolB } = tenants;
    await as(poolB, () =>
      data.transaction((db) => db.query(`insert into notes values ($1, 'b2', 'written by B')`, [poolB])),
    );
    expect(await ids(poolB)).toEqual(['b1', 'b2']);
    expect(await ids(poolA)).toEqual(['a1', 'a2']);
    await admin.query(`delete from public.notes where id = 'b2'`);
  });

  it('one pooled connection, used by two tenants in turn, shows each only its rows', async () => {
    const { poolA, poolB } = tenants;
    const turn = (tenantId: string) =>
      as(tenantId, () =>
        data.transaction(async (db) => ({
          pid: (await db.query('select pg_backend_pid() as pid')).rows[0].pid as number,
          ids: (await db.query('select id from notes order by id')).rows.map((r) => r.id),
          setting: (await db.query(`select tenantry.current_tenant() as s`)).rows[0].s,
        })),
      );
    const turns = [await turn(poolA), await turn(poolB), await turn(poolA)];
    // A transaction that fails half-way leaves nothing behind on the connection either.
    await as(poolB, () =>
      data.transaction(async (db) => {
        await db.query('select 1');
        throw new Error('the handler failed');
      }),
    ).catch(() => {});
    turns.push(await turn(poolB));
    expect(new Set(turns.map((x) => x.pid)).size).toBe(1);
    expect(turns.map(({ ids, setting }) => ({ ids, setting }))).toEqual([
      { ids: ['a1', 'a2'], setting: poolA },
      { ids: ['b1'], setting: poolB },
      { ids: ['a1', 'a2'], setting: poolA },
      { ids: ['b1'], setting: poolB },
    ]);
  });

  it('data.query() (one round trip) is scoped the same way: own rows only, no other tenant’s id written', async () => {
    const { poolA, poolB } = tenants;
    const read = await as(poolA, () => data.query<{ id: string }>('select id from notes order by id'));
    expect(read.rows.map((r) => r.id)).toEqual(['a1', 'a2']);
    const other = await as(poolA, () => data.query('select id from notes where tenant_id = $1', [poolB]));
    expect(other.rows).toEqual([]);
    await expect(
      as(poolA, () => data.query(`insert into notes values ($1, 'planted', 'from A')`, [poolB])),
    ).rejects.toThrow(/new row violates row-level security policy/);
    await expect(
      as(poolA, () => data.query(`update notes set tenant_id = $1 where id = 'a1'`, [poolB])),
    ).rejects.toThrow(/new row violates row-level security policy/);
    // Its write commits, and the failed ones left the connection clean for the next tenant.
    await as(poolA, () => data.query(`insert into notes values ($1, 'a3', 'via query')`, [poolA]));
    expect(await ids(poolA)).toEqual(['a1', 'a2', 'a3']);
    expect((await as(poolB, () => data.query('select id from notes'))).rows).toEqual([{ id: 'b1' }]);
    await admin.query(`delete from public.notes where id = 'a3'`);
  });

  it('data.query() runs its statement with its tenant set, and the next tenant on the connection with its own', async () => {
    const { poolA, poolB } = tenants;
    const seen = (tenantId: string) =>
      as(tenantId, () =>
        data.query<{ pid: number; tenant: string; ids: string[] }>(
          `select pg_backend_pid() as pid, tenantry.current_tenant() as tenant,
                  (select array_agg(id order by id) from notes) as ids`,
        ),
      ).then((r) => r.rows[0]);
    const turns = [await seen(poolA), await seen(poolB), await seen(poolA)];
    expect(new Set(turns.map((turn) => turn?.pid)).size).toBe(1);
    expect(turns.map((turn) => ({ tenant: turn?.tenant, ids: turn?.ids }))).toEqual([
      { tenant: poolA, ids: ['a1', 'a2'] },
      { tenant: poolB, ids: ['b1'] },
      { tenant: poolA, ids: ['a1', 'a2'] },
    ]);
  });

  it('data.query() keeps its statements prepared on its connection, unless told to parse each anew', async () => {
    const { poolA } = tenants;
    const listed = `select count(*)::int as n from pg_prepared_statements where statement = 'select id from notes'`;
    await as(poolA, () => data.query('select id from notes'));
    expect((await as(poolA, () => data.query(listed))).rows).toEqual([{ n: 1 }]);
    const parsing = new TenantData({
      url: urlAs(appRole),
      placements,
      max: 1,
      preparedStatements: 0,
      bindingKey,
    });
    try {
      expect((await as(poolA, () => parsing.query('select id from notes'))).rows).toHaveLength(2);
      expect((await as(poolA, () => parsing.query(listed))).rows).toEqual([{ n: 0 }]);
    } finally {
      await parsing.close();
    }
    expect(
      () => new TenantData({ url: urlAs(appRole), placements, preparedStatements: -1, bindingKey }),
    ).toThrow('preparedStatements must be a whole number of 0 or more, not -1');
  });

  it('data.query() never runs its statement when the tenant setting fails', async () => {
    const { poolA } = tenants;
    // A sequence keeps its advance even when rolled back: untouched, it shows nothing ran at all.
    await admin.query(
      `create sequence public.query_probe; grant usage on sequence public.query_probe to ${appRole}`,
    );
    await admin.query('revoke execute on function pg_catalog.set_config(text, text, boolean) from public');
    try {
      const error = await as(poolA, () =>
        data.query(`insert into notes values ($1, 'p' || nextval('query_probe'), 'never')`, [poolA]),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(pg.DatabaseError);
      expect((error as Error).message).toBe('permission denied for function set_config');
    } finally {
      await admin.query('grant execute on function pg_catalog.set_config(text, text, boolean) to public');
    }
    try {
      expect((await admin.query('select is_called from public.query_probe')).rows).toEqual([
        { is_called: false },
      ]);
      expect(await ids(poolA)).toEqual(['a1', 'a2']);
    } finally {
      await admin.query('drop sequence public.query_probe');
    }
  });

  it('data.query(): a failed statement leaves its one connection idle, and the next tenant sees only its rows', async () => {
    const { poolA, poolB } = tenants;
    const pid = (await as(poolA, () => data.query<{ pid: number }>('select pg_backend_pid() as pid'))).rows[0]
      ?.pid;
    await expect(as(poolA, () => data.query('select 1/0'))).rejects.toThrow('division by zero');
    await expect(as(poolA, () => data.query('select * from no_such_table'))).rejects.toThrow(
      'relation "no_such_table" does not exist',
    );
    // The error reaches the client before the server has read the Sync after it, so the backend
    // may still show `active` for a moment; what it must come to is `idle`, not a transaction.
    await expect
      .poll(
        async () => (await admin.query('select state from pg_stat_activity where pid = $1', [pid])).rows,
        {
          timeout: 10_000,
        },
      )
      .toEqual([{ state: 'idle' }]);
    const next = await as(poolB, () =>
      data.query(`select pg_backend_pid() as pid, tenantry.current_tenant() as tenant, id from notes`),
    );
    expect(next.rows).toEqual([{ pid, tenant: poolB, id: 'b1' }]);
  });

  it('data.query() refuses a statement that leaves a transaction open, and rolls it back before the next tenant', async () => {
    const { poolA, poolB } = tenants;
    const pid = (await as(poolA, () => data.query<{ pid: number }>('select pg_backend_pid() as pid'))).rows[0]
      ?.pid;
    const error = await as(poolA, () => data.query('begin')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionLeftOpenError);
    expect((error as Error).message).toContain(
      'data.query() ran a statement that left a transaction open ("begin")',
    );
    const state = await admin.query('select state from pg_stat_activity where pid = $1', [pid]);
    expect(state.rows).toEqual([{ state: 'idle' }]);
    // A write of the next tenant commits on its own, not in the transaction BEGIN opened.
    await as(poolB, () => data.query(`insert into notes values ($1, 'b7', 'after begin')`, [poolB]));
    expect((await admin.query(`select tenant_id from public.notes where id = 'b7'`)).rows).toEqual([
      { tenant_id: poolB },
    ]);
    await admin.query(`delete from public.notes where id = 'b7'`);
  });

  it('with the policy removed (a scratch copy of the table), the same SDK read leaks: the tests can see a leak', async () => {
    const { poolA } = tenants;
    await admin.query(`
      create table public.notes_unprotected (like public.notes including all);
      insert into public.notes_unprotected select * from public.notes;
      grant select on public.notes_unprotected to ${appRole};
      ${rowLevelSecuritySql('notes_unprotected')}`);
    try {
      expect(await ids(poolA, 'notes_unprotected')).toEqual(['a1', 'a2']);
      await admin.query(`alter table public.notes_unprotected disable row level security`);
      expect(await ids(poolA, 'notes_unprotected')).toEqual(['a1', 'a2', 'b1']);
      await admin.query(`alter table public.notes_unprotected enable row level security`);
      await admin.query(`drop policy ${TENANT_POLICY} on public.notes_unprotected`);
      await admin.query(`create policy ${TENANT_POLICY} on public.notes_unprotected using (true)`);
      expect(await ids(poolA, 'notes_unprotected')).toEqual(['a1', 'a2', 'b1']);
    } finally {
      await admin.query('drop table public.notes_unprotected');
    }
  });
});

describe('schema placement', () => {
  it('sees its own schema’s tables by their plain names, as the app’s role', async () => {
    const { schemaA } = tenants;
    const seen = await as(schemaA, () =>
      data.transaction(async (db) => ({
        ids: (await db.query('select id from notes')).rows.map((r) => r.id),
        who: (await db.query('select current_user as u, session_user as s')).rows[0],
        path: (await db.query('show search_path')).rows[0].search_path,
      })),
    );
    expect(seen).toEqual({
      ids: ['sa1'],
      who: { u: appRole, s: appRole },
      path: pg.escapeIdentifier(schemaA),
    });
    expect(await ids(tenants.schemaB)).toEqual(['sb1']);
  });

  it('data.query() runs in the tenant’s schema too, and another schema’s table shows nothing', async () => {
    const { schemaA, schemaB } = tenants;
    expect((await as(schemaA, () => data.query('select id from notes'))).rows).toEqual([{ id: 'sa1' }]);
    expect((await as(schemaA, () => data.query(`select * from "${schemaB}".notes`))).rows).toEqual([]);
  });

  it('cannot read or write another tenant’s schema, nor the pool tables', async () => {
    const { schemaA, schemaB } = tenants;
    const seen = await as(schemaA, () =>
      data.transaction(async (db) => ({
        read: (await db.query(`select * from "${schemaB}".notes`)).rows,
        updated: (await db.query(`update "${schemaB}".notes set body = 'overwritten'`)).rowCount,
        deleted: (await db.query(`delete from "${schemaB}".notes`)).rowCount,
      })),
    );
    expect(seen).toEqual({ read: [], updated: 0, deleted: 0 });
    expect(
      (await failure(schemaA, `insert into "${schemaB}".notes values ('planted', 'from A')`)).message,
    ).toBe(`new row violates row-level security policy for table "notes"`);
    expect((await as(schemaA, () => data.query('select * from public.notes'))).rows).toEqual([]);
    expect((await admin.query(`select id, body from "${schemaB}".notes`)).rows).toEqual([
      { id: 'sb1', body: 'schema' },
    ]);
  });

  it('cannot create tables in its schema: the migrations do, as the tenant’s role', async () => {
    expect((await failure(tenants.schemaA, 'create table scratch (id int)')).message).toBe(
      `permission denied for schema ${tenants.schemaA}`,
    );
  });

  it('without the binding policy on a schema table, the app role reads another schema: the policy is the protection', async () => {
    const { schemaA, schemaB } = tenants;
    await admin.query(
      `set role "tenantry_${schemaB}"; alter table "${schemaB}".notes disable row level security; reset role`,
    );
    try {
      expect((await as(schemaA, () => data.query(`select id from "${schemaB}".notes`))).rows).toEqual([
        { id: 'sb1' },
      ]);
    } finally {
      await admin.query(
        `set role "tenantry_${schemaB}"; alter table "${schemaB}".notes enable row level security; reset role`,
      );
    }
  });
});

describe('database placement', () => {
  it('reaches its own database as the app role, through grants, without its owner role', async () => {
    const { databaseA } = tenants;
    const seen = await as(databaseA, () =>
      data.transaction(async (db) => ({
        ids: (await db.query('select id from notes')).rows.map((r) => r.id),
        where: (await db.query('select current_database() as d, current_user as u, session_user as s'))
          .rows[0],
      })),
    );
    expect(seen).toEqual({
      ids: ['da1'],
      where: { d: `tenantry_${databaseA}`, u: appRole, s: appRole },
    });
    expect(await ids(tenants.databaseB)).toEqual(['db1']);
  });

  it('writes land in its own database only; it can neither become nor alter another tenant’s', async () => {
    const { databaseA, databaseB } = tenants;
    const reach = await as(databaseA, () =>
      data.transaction(async (db) => {
        await db.query(`insert into notes values ('da2', 'written by A')`);
        return (
          await db.query(
            `select pg_has_role(current_user, $1, 'MEMBER') as member, has_database_privilege(current_user, $2, 'CREATE, TEMP') as more
             from pg_roles where rolname = $1`,
            [`tenantry_${databaseB}`, `tenantry_${databaseB}`],
          )
        ).rows[0];
      }),
    );
    // CONNECT alone: SQL cannot open a connection (no dblink), nor act as B's owner.
    expect(reach).toEqual({ member: false, more: false });
    expect(
      (await failure(databaseA, `alter database "tenantry_${databaseB}" connection limit 0`)).message,
    ).toContain('must be owner of database');
    expect(await ids(databaseA)).toEqual(['da1', 'da2']);
    expect(await ids(databaseB)).toEqual(['db1']);
    await as(databaseA, () => data.query(`delete from notes where id = 'da2'`));
    expect(await ids(databaseA)).toEqual(['da1']);
  });

  it('cannot create tables or drop its own tables: the migrations do, as the tenant’s role', async () => {
    const { databaseA } = tenants;
    expect((await failure(databaseA, 'create table scratch (id int)')).message).toBe(
      'permission denied for schema public',
    );
    expect((await failure(databaseA, 'drop table notes')).message).toBe('must be owner of table notes');
    expect((await failure(databaseA, `set role "tenantry_${databaseA}"`)).message).toBe(
      `permission denied to set role "tenantry_${databaseA}"`,
    );
  });

  it('a login role without the CONNECT grant is refused at CONNECT', async () => {
    const stranger = `tenantry_sdk_stranger_${randomBytes(4).toString('hex')}`;
    await admin.query(`create role ${stranger} login`);
    try {
      const client = new pg.Client({ connectionString: urlAs(stranger, `tenantry_${tenants.databaseA}`) });
      await expect(client.connect()).rejects.toThrow(
        `permission denied for database "tenantry_${tenants.databaseA}"`,
      );
    } finally {
      await admin.query(`drop role ${stranger}`);
    }
  });

  it('keeps one pool per tenant database', async () => {
    expect(data.databaseStats().databases).toEqual(
      expect.arrayContaining([`tenantry_${tenants.databaseA}`, `tenantry_${tenants.databaseB}`]),
    );
  });
});

describe('every placement at once', () => {
  it('concurrent transactions of six tenants over three shared connections each see only their own data', async () => {
    const busy = new TenantData({
      url: urlAs(appRole),
      placements,
      max: 3,
      databases: { connectionBudget: 3 },
      bindingKey,
    });
    try {
      const expected: Record<string, string[]> = {
        [tenants.poolA]: ['a1', 'a2'],
        [tenants.poolB]: ['b1'],
        [tenants.schemaA]: ['sa1'],
        [tenants.schemaB]: ['sb1'],
        [tenants.databaseA]: ['da1'],
        [tenants.databaseB]: ['db1'],
      };
      const order = Array.from({ length: 60 }, (_, i) => Object.keys(expected)[i % 6] as string);
      const seen = await Promise.all(
        order.map((tenantId, i) =>
          as(tenantId, () =>
            i % 2 === 0
              ? busy.transaction(async (db) =>
                  (await db.query('select id from notes order by id')).rows.map((r) => r.id),
                )
              : busy
                  .query<{ id: string }>('select id from notes order by id')
                  .then((r) => r.rows.map((row) => row.id)),
          ).then((ids) => [tenantId, ids] as const),
        ),
      );
      for (const [tenantId, ids] of seen) expect(ids, tenantId).toEqual(expected[tenantId]);
      expect(busy.databaseStats().connections).toBeLessThanOrEqual(3);
    } finally {
      await busy.close();
    }
  });
});

describe('the tenant context', () => {
  it('is required: without one, no transaction starts', async () => {
    await expect(data.transaction((db) => db.query('select 1'))).rejects.toBeInstanceOf(NoTenantContextError);
    await expect(data.query('select 1')).rejects.toThrow(
      'data.query() ran without a tenant context: resolve the tenant',
    );
  });

  it('without the tenant setting, a raw query as the app role sees no pool rows', async () => {
    const app = await connect(urlAs(appRole));
    expect((await app.query('select * from public.notes')).rows).toEqual([]);
    expect((await app.query(`select tenantry.current_tenant() as s`)).rows[0].s ?? '').toBe('');
  });

  it('a client kept past its transaction refuses to run, so it cannot reach the next tenant on its connection', async () => {
    let kept: TenantClient | undefined;
    await as(tenants.poolA, () =>
      data.transaction(async (db) => {
        kept = db;
      }),
    );
    expect(() => kept?.query('select id from notes')).toThrow(
      `a tenant client was used after its transaction ended (tenant ${tenants.poolA})`,
    );
  });
});

describe('transactions', () => {
  it('roll back when the callback throws', async () => {
    const { poolA } = tenants;
    await as(poolA, () =>
      data.transaction(async (db) => {
        await db.query(`insert into notes values ($1, 'a9', 'rolled back')`, [poolA]);
        throw new Error('no');
      }),
    ).catch(() => {});
    expect(await ids(poolA)).toEqual(['a1', 'a2']);
  });

  it('say so when Postgres rolled back at COMMIT because a caught statement had failed', async () => {
    const { poolA } = tenants;
    const error = await as(poolA, () =>
      data.transaction(async (db) => {
        await db.query(`insert into notes values ($1, 'a9', 'lost')`, [poolA]);
        await db.query('select 1/0').catch(() => {});
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionRolledBackError);
    expect(await ids(poolA)).toEqual(['a1', 'a2']);
  });

  it('fail, and the process goes on, when the server ends the session mid-transaction (a restart)', async () => {
    // node-postgres reports the end as an 'error' event on the checked-out client; unheard, it
    // would end the app's process (vitest reports it as an unhandled error).
    for (const tenant of [tenants.poolA, tenants.databaseA]) {
      const error = await as(tenant, () =>
        data.transaction(async (db) => {
          const pid = (await db.query('select pg_backend_pid() as pid')).rows[0].pid;
          await admin.query('select pg_terminate_backend($1)', [pid]);
          await new Promise((resolve) => setTimeout(resolve, 200));
          await db.query('select 1');
        }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/terminat|not queryable/);
    }
    expect(await ids(tenants.poolA)).toEqual(['a1', 'a2']);
    expect(await as(tenants.databaseA, () => data.query('select 1 as one'))).toMatchObject({
      rows: [{ one: 1 }],
    });
  });

  it('take an isolation level and read only, and refuse anything else', async () => {
    const seen = await as(tenants.poolA, () =>
      data.transaction(
        async (db) => (await db.query('show transaction_isolation')).rows[0].transaction_isolation,
        { isolation: 'serializable', readOnly: true },
      ),
    );
    expect(seen).toBe('serializable');
    const readOnly = await as(tenants.poolA, () =>
      data.transaction((db) => db.query('delete from notes'), { readOnly: true }),
    ).catch((e: unknown) => e);
    expect((readOnly as Error).message).toBe('cannot execute DELETE in a read-only transaction');
    expect(await ids(tenants.poolA)).toEqual(['a1', 'a2']);
    await expect(
      as(tenants.poolA, () =>
        data.transaction((db) => db.query('select 1'), {
          isolation: 'snapshot; drop table notes' as 'serializable',
        }),
      ),
    ).rejects.toThrow('isolation must be one of read committed, repeatable read, serializable');
  });
});

describe('tenant state', () => {
  it('refuses a suspended tenant, naming its state, once the control plane’s change is known', async () => {
    const { schemaB } = tenants;
    expect((await act(t, schemaB, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    placements.invalidate(schemaB);
    const error = await as(schemaB, () => data.transaction((db) => db.query('select 1'))).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TenantUnavailableError);
    expect((error as Error).message).toContain(`tenant ${schemaB} is suspended`);
    expect((await act(t, schemaB, 'resume')).status).toBe(200);
    placements.invalidate(schemaB);
    expect(await ids(schemaB)).toEqual(['sb1']);
  });
});

describe('the start-up check', () => {
  it('refuses to run any transaction as a role that bypasses row-level security', async () => {
    const superuser = new TenantData({ url: dbUrl, placements, bindingKey });
    try {
      const error = await as(tenants.poolA, () =>
        superuser.transaction((db) => db.query('select * from notes')),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RowLevelSecurityError);
      expect((error as Error).message).toContain('is a superuser, which no row-level security policy binds');
    } finally {
      await superuser.close();
    }
  });
});
