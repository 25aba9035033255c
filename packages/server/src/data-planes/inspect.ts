import { err, ok, type Result } from '@tenantry/core';
import pg from 'pg';
import {
  type ConnectionDetails,
  type ConnectionTimeouts,
  clientConfig,
  DEFAULT_TIMEOUTS,
} from './connection.ts';

/** What validating a connection can find wrong, each its own error code (docs/errors.md). */
export type ConnectionProblemCode =
  | 'data_plane_unreachable'
  | 'data_plane_auth_failed'
  | 'data_plane_tls_required'
  | 'data_plane_version_unsupported'
  | 'data_plane_role_too_powerful'
  | 'data_plane_privilege_missing';

/** One problem; `detail` names the specific thing (the host and port, the privilege, the version). */
export interface ConnectionProblem {
  readonly code: ConnectionProblemCode;
  readonly detail: string;
  /** The privileges the role lacks, for `data_plane_privilege_missing`. */
  readonly missing?: readonly string[];
}

/** What a connection that passed validation reaches. */
export interface Inspection {
  /** `server_version`, e.g. `15.20 (Debian 15.20-0+deb12u1)`. */
  readonly serverVersion: string;
  readonly serverVersionNum: number;
  /** Whether the role may create databases (CREATEDB): a vendor data plane without it holds no `database` tenants. */
  readonly canCreateDatabases: boolean;
}

/**
 * What the app needs of the role: on a vendor data plane, the drivers make schemas and roles for
 * tenants (CREATE on the database, CREATEROLE); on a customer's, the app's tables live in
 * `schema`, which the role owns or may create.
 */
export type InspectionNeeds =
  | { readonly kind: 'vendor' }
  | { readonly kind: 'customer'; readonly schema: string };

/** The oldest PostgreSQL a data plane may run: 15, as the control plane's own. */
export const MIN_SERVER_VERSION_NUM = 150000;

/**
 * Logs in with `details` and checks what a data plane must be: reachable within the timeout,
 * the credentials accepted, TLS as `sslmode` asks, PostgreSQL 15 or later, a role that is neither
 * SUPERUSER nor BYPASSRLS (it would bypass the tenants' row-level security) and holds what `needs`
 * says. The first problem found is the answer; nothing is written, and no message repeats the
 * password.
 */
export async function inspectConnection(
  details: ConnectionDetails,
  needs: InspectionNeeds,
  timeouts: ConnectionTimeouts = { connectMs: DEFAULT_TIMEOUTS.connectMs, statementMs: 10_000 },
): Promise<Result<Inspection, ConnectionProblem>> {
  const client = new pg.Client(clientConfig(details, timeouts));
  // A connection lost between statements is reported as an event; the next statement fails instead.
  client.on('error', () => {});
  try {
    try {
      await client.connect();
    } catch (error) {
      return err(connectProblem(details, timeouts, error));
    }
    return await inspectRole(client, details, needs);
  } finally {
    // The verdict is reached by now: a probe connection that fails to close (pg destroys its
    // socket either way) has nothing to add to it.
    await client.end().catch(() => {});
  }
}

/** What the logged-in role may do, checked against what the data plane's kind needs. */
async function inspectRole(
  client: pg.Client,
  details: ConnectionDetails,
  needs: InspectionNeeds,
): Promise<Result<Inspection, ConnectionProblem>> {
  const role = (
    await client.query<RoleRow>(
      `select current_setting('server_version_num')::int as num, current_setting('server_version') as version,
              current_user as user, r.rolsuper as superuser, r.rolbypassrls as bypassrls,
              r.rolcreaterole as createrole, r.rolcreatedb as createdb,
              has_database_privilege(current_database(), 'CONNECT') as can_connect,
              has_database_privilege(current_database(), 'CREATE') as can_create
         from pg_roles r where r.rolname = current_user`,
    )
  ).rows[0];
  if (role === undefined) throw new Error('the server does not know the role it logged in as');
  const version = versionProblem(role.num, role.version);
  if (version) return err(version);
  const powers = [role.superuser ? 'SUPERUSER' : null, role.bypassrls ? 'BYPASSRLS' : null].filter(
    (p) => p !== null,
  );
  if (powers.length > 0)
    return err({
      code: 'data_plane_role_too_powerful',
      detail: `role "${role.user}" has ${powers.join(' and ')}, which bypasses row-level security: give Tenantry a role without it`,
    });
  const missing: string[] = [];
  if (!role.can_connect) missing.push(`CONNECT on database "${details.database}"`);
  if (needs.kind === 'vendor') {
    if (!role.can_create) missing.push(`CREATE on database "${details.database}"`);
    if (!role.createrole) missing.push('CREATEROLE');
  } else {
    const schema = (
      await client.query<{ owner: string; mine: boolean }>(
        `select pg_get_userbyid(nspowner) as owner, pg_has_role(current_user, nspowner, 'MEMBER') as mine
           from pg_namespace where nspname = $1`,
        [needs.schema],
      )
    ).rows[0];
    if (schema === undefined && !role.can_create)
      missing.push(`CREATE on database "${details.database}" (to create schema "${needs.schema}")`);
    if (schema !== undefined && !schema.mine)
      missing.push(
        `ownership of schema "${needs.schema}" (it belongs to "${schema.owner}", not "${role.user}")`,
      );
  }
  if (missing.length > 0)
    return err({
      code: 'data_plane_privilege_missing',
      detail: `role "${role.user}" lacks ${missing.join('; ')}`,
      missing,
    });
  return ok({ serverVersion: role.version, serverVersionNum: role.num, canCreateDatabases: role.createdb });
}

interface RoleRow {
  num: number;
  version: string;
  user: string;
  superuser: boolean;
  bypassrls: boolean;
  createrole: boolean;
  createdb: boolean;
  can_connect: boolean;
  can_create: boolean;
}

/** The problem with a server of `versionNum` (`server_version_num`), or null when it is recent enough. */
export function versionProblem(versionNum: number, version: string): ConnectionProblem | null {
  if (versionNum >= MIN_SERVER_VERSION_NUM) return null;
  return {
    code: 'data_plane_version_unsupported',
    detail: `the server runs PostgreSQL ${version}; Tenantry needs 15 or later`,
  };
}

/** TLS errors Node's `tls` raises when the server's certificate does not verify. */
const CERTIFICATE_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Why connecting failed, as one problem naming the host and port (never the password). */
export function connectProblem(
  details: ConnectionDetails,
  timeouts: ConnectionTimeouts,
  error: unknown,
): ConnectionProblem {
  const at = `${details.host}:${details.port}`;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ECONNREFUSED') return unreachable(`${at} refused the connection: nothing listens there`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return unreachable(`the host "${details.host}" was not found (DNS)`);
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT' || code === 'ECONNRESET')
    return unreachable(`${at} cannot be reached (${String(code)})`);
  if (/timeout/i.test(message))
    return unreachable(`${at} did not answer within ${timeouts.connectMs} ms (timed out)`);
  if (/does not support SSL/i.test(message))
    return {
      code: 'data_plane_tls_required',
      detail: `${at} does not offer TLS, and sslmode ${details.sslmode} requires it`,
    };
  if (typeof code === 'string' && CERTIFICATE_ERRORS.has(code))
    return {
      code: 'data_plane_tls_required',
      detail: `the certificate of ${at} does not verify (${code}): give the CA that signed it, or a host name it names`,
    };
  if (code === '28P01')
    return { code: 'data_plane_auth_failed', detail: `${at} refused the password of user "${details.user}"` };
  if (code === '28000')
    return {
      code: 'data_plane_auth_failed',
      detail: `${at} refused user "${details.user}": ${redactPassword(message, details.password)}`,
    };
  if (/password must be a string|no password/i.test(message))
    return {
      code: 'data_plane_auth_failed',
      detail: `${at} asks user "${details.user}" for a password, and none was given`,
    };
  if (code === '3D000') return unreachable(`${at} has no database "${details.database}"`);
  if (code === '42501')
    return {
      code: 'data_plane_privilege_missing',
      detail: `role "${details.user}" lacks CONNECT on database "${details.database}"`,
      missing: [`CONNECT on database "${details.database}"`],
    };
  if (code === '53300') return unreachable(`${at} has no connection slot free (too many connections)`);
  return unreachable(`${at} could not be connected to: ${redactPassword(message, details.password)}`);
}

function unreachable(detail: string): ConnectionProblem {
  return { code: 'data_plane_unreachable', detail };
}

/** `message` with every occurrence of the password taken out, should a library ever echo it. */
export function redactPassword(message: string, password: string): string {
  return password.length === 0 ? message : message.split(password).join('[redacted]');
}
