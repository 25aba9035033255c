// A PostgreSQL restart ends every session at once, including those of transactions that are
// between two statements (awaiting the application's own work). The transaction must fail and
// the process must go on; node-postgres reports such an end as an 'error' event on the client,
// which ends the process when nobody listens (vitest reports it as an unhandled error).
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/harness.ts';
import { withAdmin } from '../../test/postgres-admin.ts';
import { isDatabaseUnreachable } from './index.ts';

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb.drop();
});

test('a session ended between two statements of a transaction fails that transaction, not the process', async () => {
  const { db } = testDb.database;
  const outcome = await db
    .transaction()
    .execute(async (tx) => {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx);
      // The server ends this session while the transaction waits on something of its own.
      await withAdmin((admin) => admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await sql`select 1`.execute(tx);
      return 'committed';
    })
    .catch((error: unknown) => error);
  expect(outcome).toBeInstanceOf(Error);
  expect(isDatabaseUnreachable(outcome)).toBe(true);
  // The broken connection left the pool: the next statement gets a working one.
  const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
  expect(rows[0]?.one).toBe(1);
});
