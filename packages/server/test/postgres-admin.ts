// The PostgreSQL server the `postgres` test backend makes its throwaway databases on, shared by
// the harness and the suite's global setup.
import pg from 'pg';

/** The server's maintenance database URL (`TENANTRY_TEST_DATABASE_URL`). */
export const adminUrl =
  process.env.TENANTRY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL of database `name` on the same server. */
export function databaseUrl(name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `fn` on a connection to the maintenance database, closed after. */
export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `the postgres test backend needs a PostgreSQL server at ${adminUrl} (set TENANTRY_TEST_DATABASE_URL): ${String(error)}`,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
