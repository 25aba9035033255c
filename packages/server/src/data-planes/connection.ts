import type { FieldError } from '@tenantry/core';
import { SSL_MODES } from '@tenantry/core/api/requests';
import type pg from 'pg';

/** How the connection asks for TLS, as libpq's `sslmode`: the API's own list. */
export { SSL_MODES };
export type SslMode = (typeof SSL_MODES)[number];

/**
 * Everything needed to log in to a data plane's database. Held in memory only while used, and
 * sealed at rest (connection-seal.ts); {@link publicConnection} is the part any answer may show.
 */
export interface ConnectionDetails {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly sslmode: SslMode;
  /** PEM of the CA that signed the server's certificate, for `verify-full`; else the system's CAs. */
  readonly ca: string | null;
}

/** The part of a connection an answer may show: never the password, nor the CA (it says nothing useful). */
export interface PublicConnection {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly sslmode: SslMode;
}

/** A connection as the API takes it: a PostgreSQL URL, or its fields. */
export interface ConnectionInput {
  readonly url?: string | undefined;
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly database?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly sslmode?: SslMode | undefined;
  readonly ca?: string | undefined;
}

const HOST = /^[A-Za-z0-9._:[\]-]{1,253}$/;
const IDENTIFIER_MAX = 63;

/**
 * The connection details `input` gives, or the fields that are wrong. The messages name the field
 * and never repeat what was given for the password or the URL (which may hold one).
 */
export function parseConnection(
  input: ConnectionInput,
  path = 'connection',
): { ok: true; value: ConnectionDetails } | { ok: false; errors: FieldError[] } {
  const fields: Partial<Record<keyof ConnectionDetails, unknown>> = {};
  const errors: FieldError[] = [];
  if (input.url !== undefined) {
    const given = ['host', 'port', 'database', 'user', 'password'].filter(
      (k) => input[k as keyof ConnectionInput] !== undefined,
    );
    if (given.length > 0)
      errors.push({ path: `${path}.url`, message: `give a URL or ${given.join(', ')}, not both` });
    let url: URL | undefined;
    try {
      url = new URL(input.url);
    } catch {
      errors.push({
        path: `${path}.url`,
        message: 'must be a URL: postgres://user:password@host:5432/database',
      });
    }
    if (url !== undefined) {
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
        errors.push({ path: `${path}.url`, message: 'must start with postgres:// or postgresql://' });
      fields.host = url.hostname;
      fields.port = url.port === '' ? 5432 : Number(url.port);
      fields.database = decodeURIComponent(url.pathname.replace(/^\//, ''));
      fields.user = decodeURIComponent(url.username);
      fields.password = decodeURIComponent(url.password);
      const mode = url.searchParams.get('sslmode');
      if (mode !== null) fields.sslmode = mode;
    }
  } else {
    Object.assign(fields, {
      host: input.host,
      port: input.port ?? 5432,
      database: input.database,
      user: input.user,
      password: input.password ?? '',
    });
  }
  if (input.sslmode !== undefined) fields.sslmode = input.sslmode;
  const host = fields.host;
  if (typeof host !== 'string' || !HOST.test(host))
    errors.push({ path: `${path}.host`, message: 'must be a host name or IP address' });
  const port = fields.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    errors.push({ path: `${path}.port`, message: 'must be a port number, 1 to 65535' });
  for (const key of ['database', 'user'] as const) {
    const value = fields[key];
    if (
      typeof value !== 'string' ||
      value.length === 0 ||
      value.length > IDENTIFIER_MAX ||
      value.includes('\0')
    )
      errors.push({ path: `${path}.${key}`, message: `must be 1 to ${IDENTIFIER_MAX} characters` });
  }
  const sslmode = fields.sslmode ?? 'verify-full';
  if (!(SSL_MODES as readonly unknown[]).includes(sslmode))
    errors.push({ path: `${path}.sslmode`, message: `must be one of ${SSL_MODES.join(', ')}` });
  if (input.ca !== undefined && !input.ca.includes('-----BEGIN CERTIFICATE-----'))
    errors.push({ path: `${path}.ca`, message: 'must be a PEM certificate (-----BEGIN CERTIFICATE-----)' });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      host: host as string,
      port: port as number,
      database: fields.database as string,
      user: fields.user as string,
      password: (fields.password as string | undefined) ?? '',
      sslmode: sslmode as SslMode,
      ca: input.ca ?? null,
    },
  };
}

/** Bounds on how long one data plane may hold a caller: connecting, and each statement. */
export interface ConnectionTimeouts {
  readonly connectMs: number;
  readonly statementMs: number;
}

export const DEFAULT_TIMEOUTS: ConnectionTimeouts = { connectMs: 5_000, statementMs: 30_000 };

/**
 * node-postgres's client settings for `details` (in `database`, when given), with bounded
 * timeouts: a server that accepts TCP and never answers fails the connect after `connectMs`, a
 * statement that never returns fails after `statementMs`.
 */
export function clientConfig(
  details: ConnectionDetails,
  timeouts: ConnectionTimeouts = DEFAULT_TIMEOUTS,
  database: string = details.database,
): pg.ClientConfig {
  return {
    host: details.host,
    port: details.port,
    database,
    user: details.user,
    password: details.password,
    ssl: sslOf(details),
    connectionTimeoutMillis: timeouts.connectMs,
    query_timeout: timeouts.statementMs,
    statement_timeout: timeouts.statementMs,
    keepAlive: true,
    application_name: 'tenantry',
  };
}

function sslOf(details: ConnectionDetails): pg.ClientConfig['ssl'] {
  switch (details.sslmode) {
    case 'disable':
      return false;
    // Encrypted, the certificate not checked: libpq's `require`.
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      return { rejectUnauthorized: true, ...(details.ca === null ? {} : { ca: details.ca }) };
  }
}
