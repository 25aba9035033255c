import pg from 'pg';
import type { DataConnection } from './placement-directory.ts';

/**
 * pg's config for a BYOI connection; TLS as its `sslmode` says (`verify-full` checks the name and
 * the CA). Its own file, importing only pg and a type, so the migration coordinator opens a BYOI
 * database exactly as the data layer does without loading data/index.ts (which reads a constant
 * of migrations/ at load time).
 */
export function byoiConfig(connection: DataConnection): pg.PoolConfig {
  const ssl =
    connection.sslmode === 'disable'
      ? false
      : connection.sslmode === 'require'
        ? { rejectUnauthorized: false }
        : { rejectUnauthorized: true, ...(connection.ca !== null ? { ca: connection.ca } : {}) };
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password: connection.password,
    ssl,
    // The session's default, which RESET ALL returns to: see TenantData's #byoiQuery.
    options: `-c search_path=${pg.escapeIdentifier(connection.schema).replace(/[\\ ]/g, '\\$&')}`,
  };
}
