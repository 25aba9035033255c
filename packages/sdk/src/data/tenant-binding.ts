import { createHmac } from 'node:crypto';
import pg from 'pg';

/**
 * The setting a scoped transaction carries its tenant in: not the tenant id itself, which any SQL
 * could set, but a binding `<mac>.<backend pid>.<expiry>.<tenant id>` that only a holder of the
 * binding key can make. Policies never read it: they call {@link CURRENT_TENANT}.
 */
export const BINDING_SETTING = 'tenantry.binding';

/** The schema of the binder function, usable by everyone, writable by nobody but the binder role. */
export const BINDING_SCHEMA = 'tenantry';

/**
 * The function policies call, as `(select tenantry.current_tenant())` so that it runs once per
 * statement (an initplan): the tenant the binding names when its MAC verifies under the key, its
 * backend pid is the caller's and it has not expired; otherwise null, which matches no row.
 */
export const CURRENT_TENANT = `${BINDING_SCHEMA}.current_tenant()`;

/** The schema that holds the key; no role but the binder may use it. */
export const KEY_SCHEMA = 'tenantry_private';

/** The NOLOGIN role that owns the function, the key and their schemas. The app must not be it or a member. */
export const BINDER_ROLE = 'tenantry_binder';

/** The name of the standard policy on a pool table, and on each schema tenant's table. */
export const TENANT_POLICY = 'tenantry_tenant_isolation';

/** How long a binding the SDK makes is valid: long enough to be cached, short enough that a leaked one dies. */
const LIFETIME_S = 600;
/** A cached binding is made anew once it has less than this left, so none expires mid-statement. */
const RENEW_S = 120;
/** Bindings kept, one per tenant and backend; the oldest goes first past it. */
const CACHED = 10_000;

/** The binding key is missing or too short. */
export class BindingKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BindingKeyError';
  }
}

/**
 * The key from its text: 64 or more hex digits, or base64 of 32 bytes or more (e.g.
 * `openssl rand -hex 32`). HMAC-SHA256 takes up to 64 bytes as they are.
 */
export function parseBindingKey(text: string | undefined): Buffer {
  if (text === undefined || text.trim() === '')
    throw new BindingKeyError(
      'no tenant binding key: pass bindingKey or set TENANTRY_BINDING_KEY (32 random bytes, e.g. `openssl rand -hex 32`), the same key installTenantBinding() put in the database',
    );
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]+$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length < 32 || key.length > 64)
    throw new BindingKeyError(
      `the tenant binding key must be 32 to 64 bytes (64 to 128 hex digits, or base64), not ${key.length} bytes`,
    );
  return key;
}

/**
 * The binding key of a BYOI tenant's own database: HMAC-SHA256 of the tenant's id under the
 * vendor's key. A customer's database is the customer's (its DBA, and a role that may create roles,
 * can read the key installed there), so it never holds the vendor's key, with which every pool and
 * schema tenant's binding could be forged: only this one, which signs that tenant's bindings alone.
 */
export function byoiBindingKey(key: Buffer, tenantId: string): Buffer {
  return createHmac('sha256', key).update(`tenantry byoi binding\0${tenantId}`).digest();
}

/** The message a MAC covers, and the binding that carries it. */
function message(pid: number, expiry: number, tenantId: string): string {
  return `${pid}.${expiry}.${tenantId}`;
}

/**
 * Makes bindings with the key, one per tenant and backend pid, kept until it nears expiry: a
 * query pays a Map lookup, not an HMAC.
 */
export class TenantBinder {
  readonly #key: Buffer;
  readonly #now: () => number;
  readonly #cache = new Map<string, { readonly binding: string; readonly renewAt: number }>();

  constructor(key: Buffer, now: () => number = Date.now) {
    this.#key = key;
    this.#now = now;
  }

  /** The binding of `tenantId` for the backend `pid` (pg's `client.processID`). */
  bind(tenantId: string, pid: number): string {
    const now = this.#now() / 1000;
    const id = `${pid}/${tenantId}`;
    const cached = this.#cache.get(id);
    if (cached !== undefined && cached.renewAt > now) return cached.binding;
    const expiry = Math.floor(now) + LIFETIME_S;
    const signed = message(pid, expiry, tenantId);
    const binding = `${createHmac('sha256', this.#key).update(signed).digest('hex')}.${signed}`;
    this.#cache.delete(id);
    if (this.#cache.size >= CACHED) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(id, { binding, renewAt: expiry - RENEW_S });
    return binding;
  }
}

/**
 * The HMAC key, kept pre-xored as HMAC's inner and outer pads so the function needs only the
 * built-in sha256() (PostgreSQL 11+), no pgcrypto: HMAC(k, m) = sha256(okey || sha256(ikey || m)).
 */
function pads(key: Buffer): { ikey: string; okey: string } {
  const block = Buffer.alloc(64);
  key.copy(block);
  const xor = (byte: number) => `\\x${Buffer.from(block.map((b) => b ^ byte)).toString('hex')}`;
  return { ikey: xor(0x36), okey: xor(0x5c) };
}

/**
 * The functions that answer the key's pads, in {@link KEY_SCHEMA} (which no other role may use),
 * IMMUTABLE so that the planner calls them when it plans the verifying expression and keeps the
 * pads in that plan as constants. plpgsql keeps the plan of each of its expressions for the
 * session, so the key table is read once per session (and again whenever the plan is rebuilt),
 * not once per statement: a statement's plan, taken afresh in each transaction, cost more than
 * the HMAC. They are IMMUTABLE although they read a table because nothing else may change it:
 * {@link tenantBindingSql} writes the key and replaces {@link CURRENT_TENANT} in one transaction,
 * and a replaced function is compiled anew (with its plans) at its next call in every session.
 */
const KEY_FUNCTIONS = ['ikey', 'okey'] as const;

/**
 * The function's body: one expression, so that a statement pays for one plan and one expression
 * state (plpgsql builds each anew in every transaction, and a point query is one transaction).
 * Everything is schema-qualified (functions, operators, types, the key functions) instead of
 * `SET search_path` on the function, which would make every call save and restore the setting: so
 * no search_path the caller sets, and no temporary object, changes what it calls. The binding is
 * `<64 hex digits of MAC>.<message>`; the MAC is HMAC-SHA256 (two `sha256()`, the pads being
 * precomputed) and is compared as bit strings XOR-ed and counted (`bit_count`), which looks at
 * every bit whatever the guess, so the comparison's time says nothing about how many bits of a
 * guess were right. CASE evaluates in order: the MAC is parsed only once its 64 characters are
 * lower-case hex followed by a dot, and the fields only once the MAC holds, so a crafted value
 * cannot make a cast fail.
 */
const FUNCTION_BODY = `
declare
  b pg_catalog.text := pg_catalog.current_setting('${BINDING_SETTING}', true);
begin
  return case when pg_catalog.length(b) OPERATOR(pg_catalog.>=) 70
      and pg_catalog.substr(b, 65, 1) OPERATOR(pg_catalog.=) '.'
      and pg_catalog.ltrim(pg_catalog.substr(b, 1, 64), '0123456789abcdef') OPERATOR(pg_catalog.=) ''
    then case when pg_catalog.bit_count(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(b, 1, 64))::pg_catalog.bit(256)
        OPERATOR(pg_catalog.#) ('x' OPERATOR(pg_catalog.||) pg_catalog.encode(pg_catalog.sha256(${KEY_SCHEMA}.okey() OPERATOR(pg_catalog.||)
          pg_catalog.sha256(${KEY_SCHEMA}.ikey() OPERATOR(pg_catalog.||) pg_catalog.convert_to(pg_catalog.substr(b, 66), 'UTF8'))), 'hex'))::pg_catalog.bit(256))
        OPERATOR(pg_catalog.=) 0
    then case when pg_catalog.split_part(b, '.', 2) OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()::pg_catalog.text
        and pg_catalog.split_part(b, '.', 3)::pg_catalog.int8
          OPERATOR(pg_catalog.>) pg_catalog.date_part('epoch', pg_catalog.now())::pg_catalog.int8
    then pg_catalog.substr(b, pg_catalog.length(pg_catalog.split_part(b, '.', 2))
      OPERATOR(pg_catalog.+) pg_catalog.length(pg_catalog.split_part(b, '.', 3)) OPERATOR(pg_catalog.+) 68)
    end end end;
end`;

/**
 * The SQL that installs the binding in a database (run it as a role that may create roles and
 * schemas: the control plane's user, or a superuser): the NOLOGIN {@link BINDER_ROLE}, the key in
 * `tenantry_private.binding_key` and the functions that read it (no privilege for anyone else),
 * and `tenantry.current_tenant()`, SECURITY DEFINER, owned by the binder, executable by everyone.
 * Running it again replaces the key and the functions, in one transaction: replacing
 * `current_tenant()` is what makes every session drop the pads its plans hold (see
 * {@link KEY_FUNCTIONS}), so a replaced key verifies nothing from the next statement on.
 */
export function tenantBindingSql(key: Buffer): string {
  const { ikey, okey } = pads(key);
  const ident = pg.escapeIdentifier;
  return [
    // Roles are shared by every database of the server: another database's install may make it
    // first. Made only when missing, so a role without CREATEROLE that a DBA made a member of it
    // (a BYOI customer's) can install the binding too.
    `do $$ begin if not exists (select from pg_catalog.pg_roles where rolname = '${BINDER_ROLE}') then create role ${ident(BINDER_ROLE)} nologin; end if; exception when duplicate_object or unique_violation then null; end $$`,
    `do $$ begin if not pg_catalog.pg_has_role(current_user, '${BINDER_ROLE}', 'USAGE') then execute 'grant ${BINDER_ROLE} to ' || pg_catalog.quote_ident(current_user); end if; exception when unique_violation then null; end $$`,
    `create schema if not exists ${ident(KEY_SCHEMA)}`,
    `alter schema ${ident(KEY_SCHEMA)} owner to ${ident(BINDER_ROLE)}`,
    `revoke all on schema ${ident(KEY_SCHEMA)} from public`,
    `create table if not exists ${ident(KEY_SCHEMA)}.binding_key (only_row boolean primary key default true check (only_row), ikey bytea not null, okey bytea not null)`,
    `alter table ${ident(KEY_SCHEMA)}.binding_key owner to ${ident(BINDER_ROLE)}`,
    `revoke all on ${ident(KEY_SCHEMA)}.binding_key from public`,
    `insert into ${ident(KEY_SCHEMA)}.binding_key (ikey, okey) values (${pg.escapeLiteral(ikey)}, ${pg.escapeLiteral(okey)}) on conflict (only_row) do update set ikey = excluded.ikey, okey = excluded.okey`,
    ...KEY_FUNCTIONS.flatMap((pad) => [
      `create or replace function ${ident(KEY_SCHEMA)}.${pad}() returns bytea language sql immutable parallel safe as $tenantry$ select k.${pad} from ${KEY_SCHEMA}.binding_key k $tenantry$`,
      `alter function ${ident(KEY_SCHEMA)}.${pad}() owner to ${ident(BINDER_ROLE)}`,
      `revoke all on function ${ident(KEY_SCHEMA)}.${pad}() from public`,
    ]),
    `create schema if not exists ${ident(BINDING_SCHEMA)}`,
    `alter schema ${ident(BINDING_SCHEMA)} owner to ${ident(BINDER_ROLE)}`,
    `revoke all on schema ${ident(BINDING_SCHEMA)} from public`,
    `grant usage on schema ${ident(BINDING_SCHEMA)} to public`,
    `create or replace function ${CURRENT_TENANT} returns text language plpgsql stable security definer parallel restricted as $tenantry$${FUNCTION_BODY}$tenantry$`,
    `alter function ${CURRENT_TENANT} owner to ${ident(BINDER_ROLE)}`,
    `revoke all on function ${CURRENT_TENANT} from public`,
    `grant execute on function ${CURRENT_TENANT} to public`,
  ]
    .map((statement) => `${statement};`)
    .join('\n');
}

/** What runs the install: a pg `Client`, `Pool` or `PoolClient`. */
interface Runs {
  query(text: string): Promise<unknown>;
}

/**
 * Installs the binding with `key` in the database `client` is connected to (see
 * {@link tenantBindingSql}): one message of several statements, which PostgreSQL runs as one
 * transaction.
 */
export async function installTenantBinding(client: Runs, key: Buffer): Promise<void> {
  await client.query(tenantBindingSql(key));
}

/**
 * The statements that keep a `schema` tenant's table to that tenant: ENABLE row-level security and
 * a policy true only while the verified binding names the tenant (the table needs no tenant
 * column: every row is the tenant's). Not FORCE: the table's owner is the tenant's role, which the
 * app's role is not a member of and cannot become, and the migrations, running as that role, must
 * see the rows. The fleet migrations put it on every table of the schema.
 */
export function schemaTenantSql(schema: string, table: string, tenantId: string): string {
  const target = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
  const match = `(select ${CURRENT_TENANT}) = ${pg.escapeLiteral(tenantId)}`;
  return [
    `alter table ${target} enable row level security`,
    `drop policy if exists ${TENANT_POLICY} on ${target}`,
    `create policy ${TENANT_POLICY} on ${target} as permissive for all to public using (${match}) with check (${match})`,
  ]
    .map((statement) => `${statement};`)
    .join('\n');
}
