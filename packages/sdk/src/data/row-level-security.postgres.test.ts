import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl } from '../../../server/test/harness.ts';
import { ControlPlaneClient } from '../control-plane/index.ts';
import { PlacementDirectory } from './placement-directory.ts';
import { checkRowLevelSecurity, rowLevelSecuritySql } from './row-level-security.ts';
import { BINDING_SETTING, installTenantBinding, TENANT_POLICY, TenantBinder } from './tenant-binding.ts';
import { RowLevelSecurityError, TenantData } from './tenant-data.ts';

// A scratch database of its own, owned by the test: a vendor's pool table owned by one role, the
// app's login role with only DML on it, and two tenants' rows.
const suffix = randomBytes(4).toString('hex');
const database = `tenantry_rls_${suffix}`;
const owner = `tenantry_rls_owner_${suffix}`;
const app = `tenantry_rls_app_${suffix}`;
const bypass = `tenantry_rls_bypass_${suffix}`;
const ownerMember = `tenantry_rls_member_${suffix}`;
const roles = [app, bypass, ownerMember, owner];

function urlFor(user: string): string {
  const url = new URL(adminUrl);
  url.username = user;
  url.password = '';
  url.pathname = `/${database}`;
  return url.toString();
}

const bindingKey = randomBytes(32);
const binder = new TenantBinder(bindingKey);

/** Sets the tenant's binding for the transaction open on `client`. */
async function bindTo(client: pg.Client, tenant: string): Promise<void> {
  const pid = (client as unknown as { processID: number }).processID;
  await client.query('select set_config($1, $2, true)', [BINDING_SETTING, binder.bind(tenant, pid)]);
}

let admin: pg.Client; // superuser, on the scratch database
const clients: pg.Client[] = [];

async function connectAs(user: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlFor(user) });
  await client.connect();
  clients.push(client);
  return client;
}

/** The notes a role sees in a transaction whose tenant setting is `tenant` (none when undefined). */
async function notesSeen(client: pg.Client, tenant?: string): Promise<string[]> {
  await client.query('begin');
  try {
    if (tenant !== undefined) await bindTo(client, tenant);
    const result = await client.query<{ id: string }>('select id from public.notes order by id');
    return result.rows.map((r) => r.id);
  } finally {
    await client.query('rollback');
  }
}

async function protect(): Promise<void> {
  await admin.query(`set role ${owner}`);
  await admin.query(rowLevelSecuritySql('notes'));
  await admin.query('reset role');
}

beforeAll(async () => {
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  try {
    await server.query(`create database ${database}`);
    await server.query(`create role ${owner} login`);
    await server.query(`create role ${app} login`);
    await server.query(`create role ${bypass} login bypassrls`);
    await server.query(`create role ${ownerMember} login in role ${owner}`);
  } finally {
    await server.end();
  }
  admin = new pg.Client({ connectionString: urlFor(new URL(adminUrl).username || 'postgres') });
  await admin.connect();
  await installTenantBinding(admin, bindingKey);
  await admin.query(`revoke temporary on database ${database} from public`);
  await admin.query(`
    create table public.notes (tenant_id text not null, id text not null, body text, primary key (tenant_id, id));
    alter table public.notes owner to ${owner};
    grant select, insert, update, delete on public.notes to ${app}, ${bypass}, ${ownerMember};
    insert into public.notes values ('ten_a', 'a1', 'alpha'), ('ten_a', 'a2', 'alpha'), ('ten_b', 'b1', 'beta');`);
  await protect();
});

afterAll(async () => {
  for (const client of clients) await client.end().catch(() => {});
  await admin?.end();
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  try {
    await server.query(`drop database if exists ${database} with (force)`);
    for (const role of roles) await server.query(`drop role if exists ${role}`);
  } finally {
    await server.end();
  }
});

// Every test that removes a protection puts it back, so the next starts from a protected table.
afterEach(protect);

describe('rowLevelSecuritySql', () => {
  it('is ENABLE, FORCE and one policy with USING and WITH CHECK on the tenant setting, quoted', () => {
    expect(rowLevelSecuritySql('Meeting Notes', { schema: 'app', column: 'org' })).toBe(
      [
        'alter table "app"."Meeting Notes" enable row level security;',
        'alter table "app"."Meeting Notes" force row level security;',
        `drop policy if exists ${TENANT_POLICY} on "app"."Meeting Notes";`,
        `create policy ${TENANT_POLICY} on "app"."Meeting Notes" as permissive for all to public using ("org" = (select tenantry.current_tenant())) with check ("org" = (select tenantry.current_tenant()));`,
      ].join('\n'),
    );
  });

  it('can run again on a protected table (a migration re-applied)', async () => {
    await protect();
    await protect();
    const policies = await admin.query(
      `select polname from pg_policy where polrelid = 'public.notes'::regclass`,
    );
    expect(policies.rows).toEqual([{ polname: TENANT_POLICY }]);
  });
});

describe('the protected table', () => {
  it('shows the app role only the rows of the tenant its transaction names', async () => {
    const client = await connectAs(app);
    expect(await notesSeen(client, 'ten_a')).toEqual(['a1', 'a2']);
    expect(await notesSeen(client, 'ten_b')).toEqual(['b1']);
  });

  it('shows nothing without the tenant binding: tenantry.current_tenant() is null', async () => {
    const client = await connectAs(app);
    expect(await notesSeen(client)).toEqual([]);
    const setting = await client.query(`select tenantry.current_tenant() as value`);
    expect(setting.rows[0].value ?? '').toBe('');
    // A setting made for one transaction is gone after it: a reused connection starts with none.
    expect(await notesSeen(client, 'ten_a')).toEqual(['a1', 'a2']);
    expect(await notesSeen(client)).toEqual([]);
  });

  it('refuses to write a row of another tenant, by INSERT or by UPDATE of tenant_id', async () => {
    const client = await connectAs(app);
    await client.query('begin');
    await bindTo(client, 'ten_a');
    await expect(client.query(`insert into public.notes values ('ten_b', 'x', 'planted')`)).rejects.toThrow(
      /new row violates row-level security policy/,
    );
    await client.query('rollback');
    await client.query('begin');
    await bindTo(client, 'ten_a');
    await expect(client.query(`update public.notes set tenant_id = 'ten_b' where id = 'a1'`)).rejects.toThrow(
      /new row violates row-level security policy/,
    );
    await client.query('rollback');
    const rows = await admin.query('select tenant_id, id from public.notes order by id');
    expect(rows.rows).toEqual([
      { tenant_id: 'ten_a', id: 'a1' },
      { tenant_id: 'ten_a', id: 'a2' },
      { tenant_id: 'ten_b', id: 'b1' },
    ]);
  });

  it('passes the catalog check, for the app role', async () => {
    const report = await checkRowLevelSecurity(await connectAs(app));
    expect(report).toMatchObject({ ok: true, schema: 'public', tables: [], problems: [] });
    expect(report.role).toMatchObject({ role: app, superuser: false, bypassRls: false, ownerOf: [] });
  });
});

// Each protection is removed in turn: the catalog check names what is missing, and the leak it
// stood in the way of happens, so the tests above are able to see one.
describe('with a protection removed', () => {
  it('without ENABLE, the check names the table and every tenant sees every row', async () => {
    await admin.query('alter table public.notes disable row level security');
    const report = await checkRowLevelSecurity(await connectAs(app));
    expect(report.ok).toBe(false);
    expect(report.tables).toEqual([
      {
        table: 'notes',
        missing: ['enable'],
        problems: ['table public.notes lacks ENABLE ROW LEVEL SECURITY'],
      },
    ]);
    expect(await notesSeen(await connectAs(app), 'ten_a')).toEqual(['a1', 'a2', 'b1']);
  });

  it('without FORCE, the check names the table and the owner sees every tenant’s rows', async () => {
    const asOwner = await connectAs(owner);
    expect(await notesSeen(asOwner, 'ten_a')).toEqual(['a1', 'a2']);
    await admin.query('alter table public.notes no force row level security');
    const report = await checkRowLevelSecurity(await connectAs(app));
    expect(report.tables).toEqual([
      { table: 'notes', missing: ['force'], problems: ['table public.notes lacks FORCE ROW LEVEL SECURITY'] },
    ]);
    expect(await notesSeen(asOwner, 'ten_a')).toEqual(['a1', 'a2', 'b1']);
    // The app role, not the owner, is still held by the policy: FORCE protects against an owner.
    expect(await notesSeen(await connectAs(app), 'ten_a')).toEqual(['a1', 'a2']);
  });

  it('without the policy, the check names the table, and nothing is visible (closed, not open)', async () => {
    await admin.query(`drop policy ${TENANT_POLICY} on public.notes`);
    const report = await checkRowLevelSecurity(await connectAs(app));
    expect(report.tables[0]).toMatchObject({ table: 'notes', missing: ['policy'] });
    expect(report.problems[0]).toContain(`table public.notes lacks the policy ${TENANT_POLICY}`);
    expect(await notesSeen(await connectAs(app), 'ten_a')).toEqual([]);
  });

  it('with the policy loosened under its own name, the check names the table and the rows leak', async () => {
    await admin.query(`drop policy ${TENANT_POLICY} on public.notes`);
    await admin.query(`create policy ${TENANT_POLICY} on public.notes using (true) with check (true)`);
    const report = await checkRowLevelSecurity(await connectAs(app));
    expect(report.tables[0]).toMatchObject({ table: 'notes', missing: ['policy'] });
    expect(await notesSeen(await connectAs(app), 'ten_a')).toEqual(['a1', 'a2', 'b1']);
  });

  it('with a second permissive policy beside it, the check names that policy and the rows leak', async () => {
    await admin.query('create policy notes_everyone on public.notes for select using (true)');
    try {
      const report = await checkRowLevelSecurity(await connectAs(app));
      expect(report.tables).toEqual([
        {
          table: 'notes',
          missing: [],
          problems: [
            `table public.notes has another permissive policy, notes_everyone, which widens ${TENANT_POLICY}: make it restrictive or drop it`,
          ],
        },
      ]);
      expect(await notesSeen(await connectAs(app), 'ten_a')).toEqual(['a1', 'a2', 'b1']);
    } finally {
      await admin.query('drop policy notes_everyone on public.notes');
    }
  });

  it('with WITH CHECK dropped from the policy, the check names the table', async () => {
    await admin.query(`drop policy ${TENANT_POLICY} on public.notes`);
    await admin.query(
      `create policy ${TENANT_POLICY} on public.notes using (tenant_id = (select tenantry.current_tenant()))`,
    );
    const report = await checkRowLevelSecurity(await connectAs(app));
    expect(report.tables[0]).toMatchObject({ table: 'notes', missing: ['policy'] });
  });
});

describe('the catalog check of the role', () => {
  it('names a BYPASSRLS role, which sees every tenant’s rows', async () => {
    const client = await connectAs(bypass);
    const report = await checkRowLevelSecurity(client);
    expect(report.ok).toBe(false);
    expect(report.tables).toEqual([]);
    expect(report.role).toMatchObject({ role: bypass, bypassRls: true, superuser: false });
    expect(report.problems).toEqual([`role ${bypass} has BYPASSRLS, which skips every policy`]);
    expect(await notesSeen(client, 'ten_a')).toEqual(['a1', 'a2', 'b1']);
  });

  it('names a superuser', async () => {
    const report = await checkRowLevelSecurity(admin);
    expect(report.role.superuser).toBe(true);
    expect(report.problems).toContain(
      `role ${report.role.role} is a superuser, which no row-level security policy binds`,
    );
  });

  it('names the owner of a pool table, and a role holding the owner’s privileges through membership', async () => {
    for (const role of [owner, ownerMember]) {
      const report = await checkRowLevelSecurity(await connectAs(role));
      expect(report.role).toMatchObject({ role, ownerOf: ['notes'] });
      expect(report.problems).toEqual([
        `role ${role} owns (or has the privileges of the owner of) public.notes: connect the app as a role that only has SELECT, INSERT, UPDATE and DELETE on them`,
      ]);
    }
  });

  it('checks a named role from another connection, e.g. in CI', async () => {
    const report = await checkRowLevelSecurity(admin, { role: bypass });
    expect(report.role).toMatchObject({ role: bypass, bypassRls: true });
    await expect(checkRowLevelSecurity(admin, { role: `nobody_${suffix}` })).rejects.toThrow(
      `role "nobody_${suffix}" does not exist`,
    );
  });
});

describe('the catalog check of the schema', () => {
  it('names a table without a tenant column unless it is listed as shared, and leaves the migrations table', async () => {
    await admin.query(`
      create table public.countries (code text primary key);
      create table public.tenantry_migrations (version text primary key);`);
    try {
      const report = await checkRowLevelSecurity(await connectAs(app));
      expect(report.tables.map((t) => [t.table, t.missing])).toEqual([
        ['countries', ['enable', 'force', 'policy']],
      ]);
      expect(report.problems).toContain(
        `table public.countries has no tenant_id column, so it cannot have the policy ${TENANT_POLICY}; if it holds no tenant's rows, list it as shared`,
      );
      const shared = await checkRowLevelSecurity(await connectAs(app), { shared: ['countries'] });
      expect(shared.tables.map((t) => t.table)).toEqual(['tenantry_migrations']);
    } finally {
      await admin.query('drop table public.countries, public.tenantry_migrations');
    }
  });

  it('names a view that runs as its owner and a materialized view, which no policy filters', async () => {
    // Made by a superuser, as a migration run by one would: its views read every row.
    await admin.query(`
      create view public.note_owner_view as select * from public.notes;
      create view public.note_caller_view with (security_invoker = true) as select * from public.notes;
      create materialized view public.note_copy as select * from public.notes;
      grant select on public.note_owner_view, public.note_caller_view, public.note_copy to ${app};`);
    try {
      const report = await checkRowLevelSecurity(await connectAs(app));
      expect(report.tables.map((t) => t.table)).toEqual(['note_copy', 'note_owner_view']);
      expect(report.problems).toEqual([
        'materialized view public.note_copy is a copy no policy filters: keep tenant rows out of it or move it',
        "view public.note_owner_view runs as its owner, not its caller: recreate it with (security_invoker = true) so the caller's policies apply",
      ]);
      const client = await connectAs(app);
      await client.query('begin');
      await bindTo(client, 'ten_a');
      const seen = async (relation: string) =>
        (await client.query(`select id from public.${relation} order by id`)).rows.map((r) => r.id);
      const [owners, callers, copy] = [
        await seen('note_owner_view'),
        await seen('note_caller_view'),
        await seen('note_copy'),
      ];
      await client.query('rollback');
      expect({ owners, callers, copy }).toEqual({
        owners: ['a1', 'a2', 'b1'],
        callers: ['a1', 'a2'],
        copy: ['a1', 'a2', 'b1'],
      });
    } finally {
      await admin.query('drop view public.note_owner_view, public.note_caller_view');
      await admin.query('drop materialized view public.note_copy');
    }
  });
});

describe('TenantData.start()', () => {
  // start() reads only the data plane; the control plane is never asked.
  const placements = new PlacementDirectory({
    controlPlane: new ControlPlaneClient({ url: 'http://127.0.0.1:9', token: 'unused' }),
  });

  async function startAs(role: string, options: { requireRowLevelSecurity?: boolean } = {}) {
    const data = new TenantData({
      url: urlFor(role),
      placements,
      bindingKey: bindingKey.toString('hex'),
      ...options,
    });
    try {
      await data.start();
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await data.close();
    }
  }

  it('starts as the app role on protected tables', async () => {
    expect(await startAs(app)).toBeUndefined();
  });

  it('refuses a superuser, a BYPASSRLS role, the owner and a member of the owner, naming each', async () => {
    for (const role of [new URL(adminUrl).username || 'postgres', bypass, owner, ownerMember]) {
      const error = await startAs(role);
      expect(error).toBeInstanceOf(RowLevelSecurityError);
      expect((error as Error).message).toContain(`role ${role} `);
      expect((error as RowLevelSecurityError).report.role.role).toBe(role);
    }
  });

  it('refuses a pool table without row-level security, unless told to check the role only', async () => {
    await admin.query('alter table public.notes no force row level security');
    const error = await startAs(app);
    expect(error).toBeInstanceOf(RowLevelSecurityError);
    expect((error as Error).message).toContain('table public.notes lacks FORCE ROW LEVEL SECURITY');
    expect(await startAs(app, { requireRowLevelSecurity: false })).toBeUndefined();
    expect(await startAs(bypass, { requireRowLevelSecurity: false })).toBeInstanceOf(RowLevelSecurityError);
  });
});
