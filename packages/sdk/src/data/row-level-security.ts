import pg from 'pg';
import { MIGRATIONS_TABLE } from '../migrations/index.ts';
import { BINDER_ROLE, BINDING_SCHEMA, CURRENT_TENANT, KEY_SCHEMA, TENANT_POLICY } from './tenant-binding.ts';

/**
 * Tables of the pool schema that hold no tenant's rows and need no policy by default: the fleet
 * migrations' bookkeeping.
 */
export const SHARED_TABLES: readonly string[] = [MIGRATIONS_TABLE];

/** Where a table is and which column holds the tenant. */
export interface RowLevelSecurityOptions {
  /** The table's schema; default `public`. */
  readonly schema?: string;
  /** The text column that holds the tenant id; default `tenant_id`. */
  readonly column?: string;
}

/** What runs a query: a pg `Client`, `Pool` or `PoolClient`. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * The statements that put ENABLE and FORCE row-level security and the standard policy on a pool
 * table, for a migration: each row is visible and writable only in a transaction whose tenant
 * binding (see `tenant-binding.ts`) names its tenant and verifies. Without a binding, or with one
 * forged, replayed on another connection or expired, `tenantry.current_tenant()` is null, the
 * comparison is never true, and nothing is visible. FORCE makes the table's owner
 * subject to the policy too; it still does not bind superusers or BYPASSRLS roles, which is why
 * {@link checkRowLevelSecurity} also looks at the app's role. Running them again replaces the policy.
 *
 * @example
 * ```ts
 * await client.query(rowLevelSecuritySql('meetings'));
 * // alter table public.meetings enable row level security; … create policy tenantry_tenant_isolation …
 * ```
 */
export function rowLevelSecuritySql(table: string, options: RowLevelSecurityOptions = {}): string {
  const target = `${pg.escapeIdentifier(options.schema ?? 'public')}.${pg.escapeIdentifier(table)}`;
  // In a subquery, so the binder function runs once per statement (an initplan), not once per row.
  const match = `${pg.escapeIdentifier(options.column ?? 'tenant_id')} = (select ${CURRENT_TENANT})`;
  return [
    `alter table ${target} enable row level security`,
    `alter table ${target} force row level security`,
    `drop policy if exists ${TENANT_POLICY} on ${target}`,
    // USING filters what is read, updated and deleted; WITH CHECK refuses a row written (inserted,
    // or updated to) another tenant's id.
    `create policy ${TENANT_POLICY} on ${target} as permissive for all to public using (${match}) with check (${match})`,
  ]
    .map((statement) => `${statement};`)
    .join('\n');
}

/** A pool table (or view) that lets rows through, and why. */
export interface TableFinding {
  readonly table: string;
  /** The protections it lacks; empty for a view or for extra policies only. */
  readonly missing: readonly ('enable' | 'force' | 'policy')[];
  /** Every problem as a sentence naming the table. */
  readonly problems: readonly string[];
}

/** What the app's role is, as far as row-level security cares. */
export interface RoleFinding {
  readonly role: string;
  /** A superuser bypasses every policy, FORCE or not. */
  readonly superuser: boolean;
  /** BYPASSRLS skips every policy. */
  readonly bypassRls: boolean;
  /** The pool tables the role owns, or holds the privileges of their owner: without FORCE, their policies do not bind it. */
  readonly ownerOf: readonly string[];
  /** Every problem as a sentence naming the role. */
  readonly problems: readonly string[];
}

/** The answer of {@link checkRowLevelSecurity}. */
export interface RowLevelSecurityReport {
  readonly schema: string;
  /** True when no table and nothing about the role lets a tenant's rows reach another tenant. */
  readonly ok: boolean;
  readonly tables: readonly TableFinding[];
  readonly role: RoleFinding;
  /** Every problem, tables first. */
  readonly problems: readonly string[];
}

/** Options of {@link checkRowLevelSecurity}. */
export interface CheckOptions {
  /** The pool schema; default `public`. */
  readonly schema?: string;
  /** The tenant column; default `tenant_id`. */
  readonly column?: string;
  /** The role the app queries as; default the connection's `current_user`. */
  readonly role?: string;
  /** Tables that hold no tenant's rows, left out of the check; default {@link SHARED_TABLES}. */
  readonly shared?: readonly string[];
}

interface TableRow {
  table: string;
  kind: string;
  enabled: boolean;
  forced: boolean;
  has_column: boolean;
  has_policy: boolean;
  other_permissive: string[];
  security_invoker: boolean;
}

interface RoleRow {
  role: string;
  superuser: boolean;
  bypass_rls: boolean;
  owner_of: string[];
  binder_ok: boolean;
  binder_member: boolean;
  reads_key: boolean;
  temp: boolean;
  creates_in: string[];
  links: string[];
  tenant_roles: string[];
}

/**
 * Reads the catalog and lists every table of the pool schema that lacks ENABLE or FORCE
 * row-level security or the standard policy (with the same USING and WITH CHECK as
 * {@link rowLevelSecuritySql}), every other permissive policy (policies are OR-ed, so one can
 * widen the standard one), every view that runs as its owner instead of its caller and every
 * materialized view (a copy that no policy filters); and whether the app's role is a superuser,
 * BYPASSRLS, or the owner of a pool table — any of which lets it read every tenant's rows.
 *
 * Run it in the app's tests or CI, or at start; {@link TenantData} refuses to start on a role that
 * fails it.
 */
export async function checkRowLevelSecurity(
  client: Queryable,
  options: CheckOptions = {},
): Promise<RowLevelSecurityReport> {
  const schema = options.schema ?? 'public';
  const column = options.column ?? 'tenant_id';
  const shared = options.shared ?? SHARED_TABLES;
  // pg_get_expr prints the expression as the server keeps it, e.g.
  // (tenant_id = ( SELECT tenantry.current_tenant() AS current_tenant)); it is compared with the
  // standard one spelled the same way, the column quoted by the server's own rules.
  const tables = await client.query<TableRow>(
    `select c.relname as table, c.relkind as kind, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
       exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = $2 and not a.attisdropped) as has_column,
       exists (
         select 1 from pg_policy p
         where p.polrelid = c.oid and p.polname = $3 and p.polcmd = '*' and p.polpermissive
           and pg_get_expr(p.polqual, p.polrelid) = '(' || quote_ident($2) || $4
           and pg_get_expr(p.polwithcheck, p.polrelid) = '(' || quote_ident($2) || $4
       ) as has_policy,
       array(
         select p.polname::text from pg_policy p
         where p.polrelid = c.oid and p.polpermissive and p.polname <> $3 order by 1
       ) as other_permissive,
       coalesce(c.reloptions @> array['security_invoker=true'] or c.reloptions @> array['security_invoker=on'], false) as security_invoker
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm')
     order by c.relname`,
    [schema, column, TENANT_POLICY, ` = ( SELECT ${CURRENT_TENANT} AS current_tenant))`],
  );
  const findings: TableFinding[] = [];
  for (const row of tables.rows) {
    if (shared.includes(row.table)) continue;
    const name = `${schema}.${row.table}`;
    if (row.kind === 'v') {
      if (!row.security_invoker)
        findings.push({
          table: row.table,
          missing: [],
          problems: [
            `view ${name} runs as its owner, not its caller: recreate it with (security_invoker = true) so the caller's policies apply`,
          ],
        });
      continue;
    }
    if (row.kind === 'm') {
      findings.push({
        table: row.table,
        missing: [],
        problems: [
          `materialized view ${name} is a copy no policy filters: keep tenant rows out of it or move it`,
        ],
      });
      continue;
    }
    const missing: ('enable' | 'force' | 'policy')[] = [];
    const problems: string[] = [];
    if (!row.enabled) {
      missing.push('enable');
      problems.push(`table ${name} lacks ENABLE ROW LEVEL SECURITY`);
    }
    if (!row.forced) {
      missing.push('force');
      problems.push(`table ${name} lacks FORCE ROW LEVEL SECURITY`);
    }
    if (!row.has_policy) {
      missing.push('policy');
      problems.push(
        row.has_column
          ? `table ${name} lacks the policy ${TENANT_POLICY} (USING and WITH CHECK ${column} = (select ${CURRENT_TENANT}))`
          : `table ${name} has no ${column} column, so it cannot have the policy ${TENANT_POLICY}; if it holds no tenant's rows, list it as shared`,
      );
    }
    for (const policy of row.other_permissive)
      problems.push(
        `table ${name} has another permissive policy, ${policy}, which widens ${TENANT_POLICY}: make it restrictive or drop it`,
      );
    if (problems.length > 0) findings.push({ table: row.table, missing, problems });
  }

  // Schema tenants' tables: a schema owned by `tenantry_<schema>` is a schema tenant's, as the
  // control plane provisions it, and the schema's name is the tenant's id.
  const schemaTables = await client.query<{
    schema: string;
    table: string;
    enabled: boolean;
    has_policy: boolean;
    other_permissive: string[];
  }>(
    `select n.nspname as schema, c.relname as table, c.relrowsecurity as enabled,
       exists (
         select 1 from pg_policy p
         where p.polrelid = c.oid and p.polname = $2 and p.polcmd = '*' and p.polpermissive
           and pg_get_expr(p.polqual, p.polrelid) = $3 || quote_literal(n.nspname) || '::text)'
           and pg_get_expr(p.polwithcheck, p.polrelid) = $3 || quote_literal(n.nspname) || '::text)'
       ) as has_policy,
       array(select p.polname::text from pg_policy p where p.polrelid = c.oid and p.polpermissive and p.polname <> $2 order by 1) as other_permissive
     from pg_roles r, pg_class c join pg_namespace n on n.oid = c.relnamespace
     where r.rolname = coalesce($1, current_user) and c.relkind in ('r', 'p')
       and pg_get_userbyid(n.nspowner) = 'tenantry_' || n.nspname
       and (has_schema_privilege(r.oid, n.oid, 'USAGE') or pg_has_role(r.oid, n.nspowner, 'MEMBER'))
     order by 1, 2`,
    [options.role ?? null, TENANT_POLICY, `(( SELECT ${CURRENT_TENANT} AS current_tenant) = `],
  );
  for (const row of schemaTables.rows) {
    const name = `${row.schema}.${row.table}`;
    const missing: ('enable' | 'policy')[] = [];
    const problems: string[] = [];
    if (!row.enabled) {
      missing.push('enable');
      problems.push(`schema tenant's table ${name} lacks ENABLE ROW LEVEL SECURITY`);
    }
    if (!row.has_policy) {
      missing.push('policy');
      problems.push(
        `schema tenant's table ${name} lacks the policy ${TENANT_POLICY} ((select ${CURRENT_TENANT}) = '${row.schema}'): the fleet migrations put it there`,
      );
    }
    for (const policy of row.other_permissive)
      problems.push(
        `schema tenant's table ${name} has another permissive policy, ${policy}, which widens ${TENANT_POLICY}`,
      );
    if (problems.length > 0) findings.push({ table: name, missing, problems });
  }

  const roles = await client.query<RoleRow>(
    `select r.rolname as role, r.rolsuper as superuser, r.rolbypassrls as bypass_rls,
       array(
         select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $2 and c.relkind in ('r', 'p') and pg_has_role(r.oid, c.relowner, 'USAGE')
         order by 1
       ) as owner_of,
       exists (
         select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = $3 and p.proname = 'current_tenant' and p.pronargs = 0 and p.prosecdef
           and pg_get_userbyid(p.proowner) = $4 and p.proconfig is null
       ) as binder_ok,
       pg_has_role(r.oid, $4, 'MEMBER') as binder_member,
       coalesce(has_schema_privilege(r.oid, $5, 'USAGE'), false)
         or exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = $5 and has_table_privilege(r.oid, c.oid, 'SELECT')) as reads_key,
       has_database_privilege(r.oid, current_database(), 'TEMP') as temp,
       array(
         select n.nspname::text from pg_namespace n
         where has_schema_privilege(r.oid, n.oid, 'CREATE') and n.nspname not like 'pg_temp_%' and n.nspname not like 'pg_toast_temp_%'
           -- A schema tenant's own schema, reached as its role: the schema placement's model (see docs/sdk.md).
           and not (pg_has_role(r.oid, n.nspowner, 'MEMBER') and pg_get_userbyid(n.nspowner) like 'tenantry_%' and n.nspowner <> r.oid)
         order by 1
       ) as creates_in,
       array(select e.extname::text from pg_extension e where e.extname in ('dblink', 'postgres_fdw') order by 1) as links,
       -- A tenant's role, as the control plane provisions it: the owner of the schema or the
       -- database named after it. A member may SET ROLE to it from any tenant's SQL.
       array(
         select g.rolname::text from pg_roles g
         where g.oid <> r.oid and pg_has_role(r.oid, g.oid, 'MEMBER')
           and (exists (select 1 from pg_namespace n where n.nspowner = g.oid and g.rolname = 'tenantry_' || n.nspname)
                or exists (select 1 from pg_database d where d.datdba = g.oid and d.datname = g.rolname))
         order by 1
       ) as tenant_roles
     from pg_roles r where r.rolname = coalesce($1, current_user)`,
    [options.role ?? null, schema, BINDING_SCHEMA, BINDER_ROLE, KEY_SCHEMA],
  );
  const found = roles.rows[0];
  if (found === undefined) throw new Error(`role "${options.role}" does not exist`);
  const roleProblems: string[] = [];
  if (found.superuser)
    roleProblems.push(`role ${found.role} is a superuser, which no row-level security policy binds`);
  if (found.bypass_rls) roleProblems.push(`role ${found.role} has BYPASSRLS, which skips every policy`);
  if (found.owner_of.length > 0 && !found.superuser)
    roleProblems.push(
      `role ${found.role} owns (or has the privileges of the owner of) ${found.owner_of.map((t) => `${schema}.${t}`).join(', ')}: connect the app as a role that only has SELECT, INSERT, UPDATE and DELETE on them`,
    );
  if (found.tenant_roles.length > 0 && !found.superuser)
    roleProblems.push(
      `role ${found.role} is a member of the tenant role(s) ${found.tenant_roles.join(', ')}, so any tenant's SQL can SET ROLE to them and act as that tenant's owner (drop its policies, ALTER or DROP its database): reach tenants through grants (the control plane's TENANTRY_APP_ROLE does that), not membership`,
    );
  if (!found.binder_ok)
    roleProblems.push(
      `the tenant binding is not installed: ${CURRENT_TENANT} must exist, SECURITY DEFINER, owned by ${BINDER_ROLE}, without SET options (run installTenantBinding())`,
    );
  if (found.binder_member && !found.superuser)
    roleProblems.push(
      `role ${found.role} is a member of ${BINDER_ROLE}, so it can read the binding key and forge any tenant's binding`,
    );
  if (found.reads_key && !found.superuser)
    roleProblems.push(
      `role ${found.role} can use schema ${KEY_SCHEMA} or read its key, and forge any tenant's binding`,
    );
  if (found.temp)
    roleProblems.push(
      `role ${found.role} may create temporary tables, which shadow tables for later statements on the same connection: revoke temp on database … from public (and from the role)`,
    );
  if (found.creates_in.length > 0)
    roleProblems.push(
      `role ${found.role} may create objects in ${found.creates_in.join(', ')}: functions, tables or views there outlive a request and can shadow others; revoke create on those schemas`,
    );
  if (found.links.length > 0)
    roleProblems.push(
      `the extension(s) ${found.links.join(', ')} let SQL open connections elsewhere, past every setting of this one: drop them from the shared database`,
    );
  const role: RoleFinding = {
    role: found.role,
    superuser: found.superuser,
    bypassRls: found.bypass_rls,
    ownerOf: found.owner_of,
    problems: roleProblems,
  };
  const problems = [...findings.flatMap((f) => f.problems), ...roleProblems];
  return { schema, ok: problems.length === 0, tables: findings, role, problems };
}
