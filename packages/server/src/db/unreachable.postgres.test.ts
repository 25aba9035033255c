// Which errors of a real PostgreSQL server and of node-postgres mean "the database is
// unreachable" (the API answers 503 and asks for a retry) and which are the statement's own.
import pg from 'pg';
import { expect, test } from 'vitest';
import { freePort } from '../../../../test/e2e/tenantry-process.ts';
import { adminUrl, withAdmin } from '../../test/postgres-admin.ts';
import { isDatabaseUnreachable } from './index.ts';

async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

test('a refused connection is unreachable', async () => {
  const port = await freePort();
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  const error = await failureOf(() => client.connect());
  expect((error as { code?: string }).code).toBe('ECONNREFUSED');
  expect(isDatabaseUnreachable(error)).toBe(true);
});

test("a session the server ended (57P01, as in a restart) is unreachable, and so is that client's next query", async () => {
  const client = new pg.Client({ connectionString: adminUrl });
  // The client reports the end twice (the server's 57P01, then the closed socket): keep the first.
  const ended = new Promise<unknown>((resolve) => client.on('error', resolve));
  await client.connect();
  const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
  await withAdmin((admin) => admin.query('select pg_terminate_backend($1)', [pid]));
  const error = await ended;
  expect((error as { code?: string }).code).toBe('57P01');
  expect(isDatabaseUnreachable(error)).toBe(true);
  const next = await failureOf(() => client.query('select 1'));
  expect(isDatabaseUnreachable(next)).toBe(true);
});

test("the statement's own errors are not", async () => {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const syntax = await failureOf(() => client.query('selec 1'));
    expect((syntax as { code?: string }).code).toBe('42601');
    expect(isDatabaseUnreachable(syntax)).toBe(false);
    const division = await failureOf(() => client.query('select 1 / 0'));
    expect(isDatabaseUnreachable(division)).toBe(false);
    expect(isDatabaseUnreachable(new Error('tenant not found'))).toBe(false);
  } finally {
    await client.end();
  }
});
