import { randomBytes } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { recordAudit } from '../../test/audit-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import type { Schema } from '../db/index.ts';
import { systemContext } from '../request-context.ts';

/**
 * The audit log's protection, read from the catalog and then attacked: a login role given what
 * the server's role gets (tenantry_audit_writer, and USAGE on the schema as any role reaching the
 * control plane's tables needs) tries to change, remove or unprotect audit rows. Tests connect as
 * a superuser, which bypasses privileges; `SET LOCAL ROLE` drops that for one transaction.
 */

let t: TestApp;
let db: Kysely<Schema>;
const attacker = `tenantry_attack_${randomBytes(4).toString('hex')}`;
const TABLES = ['audit_events', 'audit_chain_heads', 'audit_checkpoints'];

beforeAll(async () => {
  t = await startTestApp();
  db = t.services.database.db;
  await sql`create role ${sql.id(attacker)} login`.execute(db);
  await sql`grant usage on schema tenantry to ${sql.id(attacker)}`.execute(db);
  await sql`grant tenantry_audit_writer to ${sql.id(attacker)}`.execute(db);
  // Two chains with entries, and a checkpoint.
  await db
    .transaction()
    .execute((tx) =>
      recordAudit(
        tx,
        systemContext('test'),
        { action: 'plan.created', targetType: 'plan', targetId: 'pln_1' },
        { action: 'tenant.updated', targetType: 'tenant', targetId: 'ten_1', tenantId: 'ten_1' },
        { action: 'tenant.updated', targetType: 'tenant', targetId: 'ten_1', tenantId: 'ten_1' },
      ),
    );
  await t.services.audit.checkpoints.signMovedHeads();
});

afterAll(async () => {
  await sql`drop owned by ${sql.id(attacker)}`.execute(db);
  await sql`drop role ${sql.id(attacker)}`.execute(db);
  await t.close();
});

/** Runs `statement` as the attacker; the transaction rolls back whatever happens. */
async function asAttacker(
  statement: string,
  setUp?: (tx: Transaction<Schema>) => Promise<void>,
): Promise<number> {
  const rolledBack = new Error('rolled back');
  let changed = 0;
  try {
    await db.transaction().execute(async (tx) => {
      await setUp?.(tx);
      await sql`set local role ${sql.id(attacker)}`.execute(tx);
      const result = await sql.raw(statement).execute(tx);
      changed = Number(result.numAffectedRows ?? 0n);
      throw rolledBack;
    });
  } catch (error) {
    if (error !== rolledBack) throw error;
  }
  return changed;
}

const ATTACKS = [
  'update tenantry.audit_events set data = \'{"forged":true}\'',
  'delete from tenantry.audit_events',
  'truncate tenantry.audit_events',
  "update tenantry.audit_checkpoints set hash = 'x'",
  'delete from tenantry.audit_checkpoints',
  'truncate tenantry.audit_checkpoints',
  'delete from tenantry.audit_chain_heads',
  'truncate tenantry.audit_chain_heads',
];

describe('the catalog', () => {
  test('a NOLOGIN role owns the audit tables and functions; the writer may read and append only', async () => {
    const owners = await sql<{ relname: string; owner: string }>`
      select c.relname, pg_get_userbyid(c.relowner) as owner from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'tenantry' and c.relname = any(${TABLES}::text[]) order by c.relname`.execute(db);
    expect(owners.rows).toEqual(
      [...TABLES].sort().map((relname) => ({ relname, owner: 'tenantry_audit_owner' })),
    );
    const owner = await sql<{ rolcanlogin: boolean; rolsuper: boolean }>`
      select rolcanlogin, rolsuper from pg_roles where rolname = 'tenantry_audit_owner'`.execute(db);
    expect(owner.rows).toEqual([{ rolcanlogin: false, rolsuper: false }]);

    const privileges = await sql<{ relname: string; privilege: string; granted: boolean }>`
      select t.relname, p.privilege,
        has_table_privilege('tenantry_audit_writer', 'tenantry.' || t.relname, p.privilege) as granted
      from unnest(${TABLES}::text[]) as t(relname)
      cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) as p(privilege)
      order by 1, 2`.execute(db);
    const granted = privileges.rows.filter((r) => r.granted).map((r) => `${r.relname} ${r.privilege}`);
    expect(granted.sort()).toEqual([
      'audit_chain_heads INSERT',
      'audit_chain_heads SELECT',
      'audit_chain_heads UPDATE',
      'audit_checkpoints INSERT',
      'audit_checkpoints SELECT',
      'audit_events INSERT',
      'audit_events SELECT',
    ]);

    const functions = await sql<{
      proname: string;
      owner: string;
      definer: boolean;
      config: string[] | null;
    }>`
      select p.proname, pg_get_userbyid(p.proowner) as owner, p.prosecdef as definer, p.proconfig as config
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'tenantry' and p.proname like 'audit\\_%' order by p.proname`.execute(db);
    expect(functions.rows).toEqual([
      { proname: 'audit_checkpoints_guard', owner: 'tenantry_audit_owner', definer: false, config: null },
      { proname: 'audit_events_guard', owner: 'tenantry_audit_owner', definer: false, config: null },
      // The two ways past the guards run as the owner, on a search_path nobody can plant objects on.
      {
        proname: 'audit_prune',
        owner: 'tenantry_audit_owner',
        definer: true,
        config: ['search_path=pg_catalog, pg_temp'],
      },
      {
        proname: 'audit_seal',
        owner: 'tenantry_audit_owner',
        definer: true,
        config: ['search_path=pg_catalog, pg_temp'],
      },
    ]);
    const executable = await sql<{ public: boolean; writer: boolean }>`
      select has_function_privilege('public', 'tenantry.audit_prune(text, bigint)', 'EXECUTE') as public,
        has_function_privilege('tenantry_audit_writer', 'tenantry.audit_prune(text, bigint)', 'EXECUTE') as writer`.execute(
      db,
    );
    expect(executable.rows).toEqual([{ public: false, writer: true }]);

    const triggers = await sql<{ table: string; trigger: string; enabled: string }>`
      select c.relname as table, g.tgname as trigger, g.tgenabled as enabled from pg_trigger g
      join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'tenantry' and not g.tgisinternal and c.relname = any(${TABLES}::text[])
      order by 1, 2`.execute(db);
    expect(triggers.rows).toEqual([
      { table: 'audit_checkpoints', trigger: 'audit_checkpoints_guard', enabled: 'O' },
      { table: 'audit_checkpoints', trigger: 'audit_checkpoints_no_truncate', enabled: 'O' },
      { table: 'audit_events', trigger: 'audit_events_guard', enabled: 'O' },
      { table: 'audit_events', trigger: 'audit_events_no_truncate', enabled: 'O' },
    ]);

    // The role that migrated (the server's) kept the writer's rights and gave the owner's back.
    const memberships = await sql<{ role: string }>`
      select pg_get_userbyid(m.roleid) as role from pg_auth_members m
      where m.member = (select oid from pg_roles where rolname = current_user)
        and pg_get_userbyid(m.roleid) like 'tenantry\\_audit\\_%'`.execute(db);
    expect(memberships.rows).toEqual([{ role: 'tenantry_audit_writer' }]);
  });
});

describe("the server's role, attacking", () => {
  test('reads and appends', async () => {
    expect(await asAttacker('select * from tenantry.audit_events')).toBe(0);
    await expect(
      asAttacker(`insert into tenantry.audit_events (id, actor_type, actor_id, action, target_type, target_id, chain_id, seq)
        values ('aud_x', 'system', 'x', 'x.y', 'x', 'x', 'ten_attack', 1)`),
    ).resolves.toBe(1);
  });

  test.each(ATTACKS)('is refused: %s', async (attack) => {
    await expect(asAttacker(attack)).rejects.toThrow(/permission denied/);
  });

  test.each([
    ['drop table tenantry.audit_events', /must be owner/],
    ['alter table tenantry.audit_events disable trigger user', /must be owner/],
    ['alter table tenantry.audit_events owner to current_user', /must be owner/],
    [
      "create or replace function tenantry.audit_events_guard() returns trigger language plpgsql as 'begin return new; end'",
      /must be owner|permission denied/,
    ],
    ['set session_replication_role = replica', /permission denied/],
    ['grant tenantry_audit_owner to current_user', /permission denied|must have admin option/],
    ["select tenantry.audit_prune('ten_1', 1)", /no signed checkpoint/],
  ])('cannot unprotect the log: %s', async (attack, refusal) => {
    await expect(asAttacker(attack)).rejects.toThrow(refusal);
  });

  test('with the protection removed, the same attacks succeed', async () => {
    // Privileges granted but the triggers on: the triggers still refuse.
    const grant = async (tx: Transaction<Schema>) => {
      await sql`grant update, delete, truncate on tenantry.audit_events to ${sql.id(attacker)}`.execute(tx);
    };
    await expect(asAttacker("update tenantry.audit_events set data = '{}'", grant)).rejects.toThrow(
      /audit entries cannot be changed/,
    );
    await expect(asAttacker('delete from tenantry.audit_events', grant)).rejects.toThrow(/pruning/);
    await expect(asAttacker('truncate tenantry.audit_events', grant)).rejects.toThrow(/cannot be truncated/);
    // Triggers off but no privilege: the privileges still refuse.
    const disable = async (tx: Transaction<Schema>) => {
      await sql`alter table tenantry.audit_events disable trigger user`.execute(tx);
    };
    await expect(asAttacker("update tenantry.audit_events set data = '{}'", disable)).rejects.toThrow(
      /permission denied/,
    );
    // Both removed: the attacks go through (and are rolled back here).
    const both = async (tx: Transaction<Schema>) => {
      await grant(tx);
      await disable(tx);
    };
    const entries = (await db.selectFrom('audit_events').select('id').execute()).length;
    expect(entries).toBeGreaterThanOrEqual(3);
    expect(await asAttacker(`update tenantry.audit_events set data = '{"forged":true}'`, both)).toBe(entries);
    expect(await asAttacker('delete from tenantry.audit_events', both)).toBe(entries);
    await expect(asAttacker('truncate tenantry.audit_events', both)).resolves.toBe(0);
    // Nothing of it stayed.
    expect((await db.selectFrom('audit_events').select('id').execute()).length).toBe(entries);
  });
});

describe('a superuser', () => {
  test('bypasses privileges but is refused by the triggers', async () => {
    await expect(sql`update tenantry.audit_events set data = '{}'`.execute(db)).rejects.toThrow(
      /audit entries cannot be changed/,
    );
    await expect(sql`delete from tenantry.audit_events`.execute(db)).rejects.toThrow(/pruning/);
    await expect(sql`truncate tenantry.audit_events`.execute(db)).rejects.toThrow(/cannot be truncated/);
    await expect(sql`delete from tenantry.audit_checkpoints`.execute(db)).rejects.toThrow(
      /cannot be changed or removed/,
    );
    await expect(sql`truncate tenantry.audit_checkpoints`.execute(db)).rejects.toThrow(
      /cannot be changed or removed/,
    );
  });
});
