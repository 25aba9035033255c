// A batch in flight when `tenantry serve` is SIGKILLed can be retried with its Idempotency-Key at
// once, not after the 5-minute timer, and counts once. On PostgreSQL the test holds a lock on the
// events table so the first request stops inside its handler, after claiming its key, and waits
// there for the kill; the retry goes to a second server on the same database. On PGlite one
// process owns the database and nothing outside it can hold a request in its handler: the test
// leaves the row as such a kill would, and the server restarted on its data directory must take
// over the claim its earlier life left.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { openDatabase } from '../../packages/server/src/db/index.ts';
import { createTestDatabase, type TestDatabase } from '../../packages/server/test/harness.ts';
import { freePort, type ServeProcess, startServe } from './tenantry-process.ts';

const EVENTS = 10_000;
/** The usage tests' plan file: the `metered` plan has no limits, so no threshold logic runs. */
const PLANS = readFileSync(
  new URL('../../packages/server/test/fixtures/usage-meters.yaml', import.meta.url),
  'utf8',
);
const token = `tnt_op_${randomBytes(24).toString('base64url')}`;
const dir = mkdtempSync(join(tmpdir(), 'tenantry-idempotency-crash-'));
const servers: ServeProcess[] = [];
let database: TestDatabase | undefined;

afterAll(async () => {
  for (const server of servers) if (running(server)) server.child.kill('SIGKILL');
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(env: Record<string, string>): Promise<{ server: ServeProcess; url: string }> {
  const port = await freePort();
  const server = await startServe({
    ...env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TENANTRY_BOOTSTRAP_TOKEN: token,
  });
  servers.push(server);
  return { server, url: `http://127.0.0.1:${port}` };
}

async function call(url: string, method: string, path: string, body: unknown, key?: string) {
  const response = await fetch(url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

/** Sends the request without waiting for an answer that will never come (the server is killed). */
function sendAndForget(url: string, path: string, body: string, key: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url + path, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'idempotency-key': key,
      },
    });
    // The answer never comes: the server dies with the request in flight.
    req.on('error', () => {});
    // Resolves once the whole body has been handed to the kernel.
    req.end(body, () => resolve());
  });
}

function running(server: ServeProcess): boolean {
  return server.child.exitCode === null && server.child.signalCode === null;
}

async function killHard(server: ServeProcess): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a batch in flight at SIGKILL is retried with its key at once and counted once', {
  timeout: 180_000,
}, async () => {
  const postgres = process.env.TENANTRY_TEST_BACKEND === 'postgres';
  const env: Record<string, string> = {};
  if (postgres) {
    database = await createTestDatabase();
    env.DATABASE_URL = (database.target as { url: string }).url;
  } else {
    env.TENANTRY_DATA_DIR = join(dir, 'data');
  }
  const first = await serve(env);
  expect((await call(first.url, 'POST', '/v1/plans/apply', { source: PLANS })).status).toBe(200);
  const tenant = await call(first.url, 'POST', '/v1/tenants', {
    slug: 'crashy',
    name: 'Crashy',
    plan: 'metered',
  });
  expect(tenant.status).toBe(201);

  const now = Date.now();
  const batch = Array.from({ length: EVENTS }, (_, i) => ({
    id: `evt-${i}`,
    tenant: 'crashy',
    meter: 'api_calls',
    value: 1,
    time: new Date(now - 60_000 - i * 1000).toISOString(),
  }));
  const key = `batch-${randomBytes(6).toString('hex')}`;

  let retryUrl: string;
  let killedAt: number;
  if (postgres) {
    const { url } = (database as TestDatabase).target as { url: string };
    const second = await serve(env);
    retryUrl = second.url;
    // Hold the events table: the first request claims its key, then waits in its handler.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('begin');
    await holder.query('lock table tenantry.usage_events in access exclusive mode');
    await sendAndForget(first.url, '/v1/events', JSON.stringify(batch), key);
    for (;;) {
      const claim = await holder.query(
        'select status_code from tenantry.idempotency_keys where key = $1 and status_code is null',
        [key],
      );
      // The claim is committed and in progress: the handler is running, held by the lock.
      if (claim.rowCount === 1) break;
      await sleep(20);
    }
    await killHard(first.server);
    killedAt = performance.now();
    await holder.query('rollback');
    await holder.end();
  } else {
    // Nothing outside the process can hold a request inside its handler on PGlite, and the
    // process's own queries wait behind the handler's, so no probe can see it there either. The
    // state such a kill leaves is made instead: the batch is stored and answered, the server is
    // killed, and its row is set back to "claimed, unanswered" as a kill inside the handler, just
    // before the answer was stored, leaves it (the owner is still the dead process's key).
    const stored = await call(first.url, 'POST', '/v1/events', batch, key);
    expect(stored.status).toBe(200);
    await killHard(first.server);
    const left = await openDatabase({ dataDir: join(dir, 'data') });
    const unanswered = await left.db
      .updateTable('idempotency_keys')
      .set({ status_code: null, response_body: null, response_headers: null })
      .where('key', '=', key)
      .where('owner', 'is not', null)
      .executeTakeFirst();
    await left.close();
    expect(unanswered.numUpdatedRows).toBe(1n);
    killedAt = performance.now();
    const restarted = await serve(env);
    retryUrl = restarted.url;
  }

  // Retry as a client would, on 409 "in progress" too; the 5-minute timer is far beyond the bound.
  let retry = await call(retryUrl, 'POST', '/v1/events', batch, key);
  let attempts = 1;
  while (retry.status === 409 && retry.body.code === 'idempotency_key_in_progress' && attempts < 600) {
    await sleep(100);
    retry = await call(retryUrl, 'POST', '/v1/events', batch, key);
    attempts += 1;
  }
  const takeoverMs = performance.now() - killedAt;
  expect(retry.status, JSON.stringify(retry.body)).toBe(200);
  // The discriminating bound is the 5-minute timer this replaces: on PostgreSQL the retry may meet
  // the dead process's session for the moment the server takes to end it; a restarted PGlite
  // server takes over at its first retry.
  if (postgres) expect(takeoverMs).toBeLessThan(60_000);
  else expect(attempts).toBe(1);
  // biome-ignore lint/suspicious/noConsole: the takeover time is a figure the issue asks for.
  console.info(
    `idempotency takeover after SIGKILL (${postgres ? 'postgres, second server' : 'pglite, restart included'}): ${Math.round(takeoverMs)} ms, ${attempts} attempt(s)`,
  );

  // On PGlite the events were stored before the kill: the retry ran again and found them all.
  if (!postgres) expect(retry.body).toMatchObject({ accepted: 0, duplicates: EVENTS });
  // The same key again is the stored answer; the events count once.
  const replay = await call(retryUrl, 'POST', '/v1/events', batch, key);
  expect(replay.status).toBe(200);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  for (const server of servers) if (running(server)) await killHard(server);
  const check = await openDatabase(
    postgres ? (database as TestDatabase).target : { dataDir: join(dir, 'data') },
  );
  try {
    const stored = await sql<{ events: number; ids: number }>`
      select count(*)::int as events, count(distinct id)::int as ids from usage_events`.execute(check.db);
    expect(stored.rows[0]).toEqual({ events: EVENTS, ids: EVENTS });
  } finally {
    await check.close();
  }
});
