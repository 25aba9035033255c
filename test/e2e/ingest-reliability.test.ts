// Exactly-once ingestion through crashes: `tenantry usage ingest` sends 200,000 events while the
// control plane (`tenantry serve`, its own process) is killed with SIGKILL again and again and
// restarted on the same port. The CLI retries what was not acknowledged; afterwards every event of
// the file is stored exactly once and the hourly rollups equal a recompute from the raw events.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Database, openDatabase, type Schema } from '../../packages/server/src/db/index.ts';
import { createTestDatabase, type TestDatabase } from '../../packages/server/test/harness.ts';
import { bin, E2E_TIMEOUT_MS, freePort, type ServeProcess, startServe, until } from './tenantry-process.ts';

const run = promisify(execFile);

const EVENTS = 200_000;
/** Every this many events, a line of the file repeats an earlier one. */
const REPEAT_EVERY = 50;
/**
 * How often the server is killed: each time another 1/(KILLS + 1) of the file's value is stored,
 * so the kills follow the ingestion's progress, not the speed of the machine.
 */
const KILLS = 15;

const PLANS = `currency: usd
meters:
  requests:
    aggregation: sum
plans:
  metered:
    name: Metered
    limits:
      requests: { value: 1000000000, enforcement: soft }
`;

let dir: string;
let database: TestDatabase | undefined;
let serverEnv: Record<string, string>;
let server: ServeProcess | undefined;
let url: string;
const token = `tnt_op_${randomBytes(24).toString('base64url')}`;

async function kill(signal: NodeJS.Signals): Promise<void> {
  const running = server;
  server = undefined;
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = new Promise((resolve) => running.child.once('exit', resolve));
  running.child.kill(signal);
  await exited;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The CLI in its own process, for as long as it takes; resolves when it exits. */
function cliInBackground(
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * The value of `requests` the server has stored over `[from, to)`, or `undefined` while it cannot
 * answer (a connection refused or reset: the CLI's retries meet the same).
 */
async function storedValue(from: Date, to: Date): Promise<number | undefined> {
  const query = new URLSearchParams({
    meter: 'requests',
    from: from.toISOString(),
    to: to.toISOString(),
    window: 'day',
  });
  const response = await fetch(`${url}/v1/tenants/crashy/usage?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  }).catch((error: unknown) => {
    if (error instanceof TypeError) return undefined; // fetch's "fetch failed": no connection
    throw error;
  });
  if (!response) return undefined;
  const body = (await response.json()) as { total: number };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.total;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tenantry-reliability-'));
  url = `http://127.0.0.1:${await freePort()}`;
  serverEnv = {
    PORT: new URL(url).port,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TENANTRY_DATA_DIR: join(dir, 'data'),
    TENANTRY_BOOTSTRAP_TOKEN: token,
  };
  if (process.env.TENANTRY_TEST_BACKEND === 'postgres') {
    database = await createTestDatabase();
    serverEnv.DATABASE_URL = (database.target as { url: string }).url;
  }
});

afterAll(async () => {
  await kill('SIGKILL');
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('every event is stored exactly once, and the rollups equal a recompute, while the server is killed again and again', {
  timeout: E2E_TIMEOUT_MS,
}, async () => {
  server = await startServe(serverEnv);
  const planFile = join(dir, 'plans.yaml');
  writeFileSync(planFile, PLANS);
  expect((await cli('plans', 'apply', planFile)).code).toBe(0);
  const created = await cli('tenants', 'create', '--slug', 'crashy', '--name', 'Crashy', '--plan', 'metered');
  expect(created.code, created.stderr).toBe(0);

  // 200,000 distinct events over the last two days, and every 50th line a repeat of an earlier one.
  const now = Date.now();
  const lines: string[] = [];
  const values = new Map<string, number>();
  for (let i = 0; i < EVENTS; i++) {
    const event = {
      id: `evt-${i}`,
      tenant: 'crashy',
      meter: 'requests',
      value: (i % 10) + 1,
      time: new Date(now - 60_000 - ((i * 7919) % (48 * 3600)) * 1000).toISOString(),
      ...(i % 3 === 0 ? { subject: `user-${i % 7}` } : {}),
    };
    values.set(event.id, event.value);
    lines.push(JSON.stringify(event));
    if (i % REPEAT_EVERY === REPEAT_EVERY - 1)
      lines.push(lines[Math.floor((i * 31) % lines.length)] as string);
  }
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const expectedValue = [...values.values()].reduce((a, b) => a + b, 0);

  const ingest = cliInBackground('usage', 'ingest', file, '--json');
  let done = false;
  const finished = ingest.then((result) => {
    done = true;
    return result;
  });
  // The events lie within [from, to): whole hours around the last two days.
  const from = new Date(Math.floor((now - 49 * 3_600_000) / 3_600_000) * 3_600_000);
  const to = new Date(Math.ceil((now + 3_600_000) / 3_600_000) * 3_600_000);
  let kills = 0;
  while (!done && kills < KILLS) {
    const mark = (expectedValue * (kills + 1)) / (KILLS + 1);
    await until(`the server stores ${mark} of ${expectedValue}`, async () => {
      if (done) return true;
      const stored = await storedValue(from, to);
      return stored !== undefined && stored >= mark ? true : undefined;
    });
    if (done) break;
    await kill('SIGKILL');
    kills++;
    // Restart on the same port. A server that cannot start again is the finding: fail with its output.
    server = await startServe(serverEnv);
  }
  const result = await finished;
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(kills).toBeGreaterThan(0);
  const summary = JSON.parse(result.stdout) as {
    events: number;
    accepted: number;
    duplicates: number;
    rejected: unknown[];
  };
  expect(summary.events).toBe(lines.length);
  expect(summary.rejected).toEqual([]);
  expect(summary.accepted + summary.duplicates).toBe(lines.length);
  // Accepted may come out lower than distinct (and duplicates higher) when a batch's first attempt
  // was stored by a server that died before answering: its retry finds the events already there.
  expect(summary.accepted).toBeLessThanOrEqual(EVENTS);
  expect(summary.duplicates).toBeGreaterThanOrEqual(lines.length - EVENTS);

  await kill('SIGTERM');
  let abandonedKeys = 0;
  let db: Kysely<Schema>;
  let opened: Database | undefined;
  if (database) db = database.database.db;
  else {
    opened = await openDatabase({ dataDir: serverEnv.TENANTRY_DATA_DIR as string });
    db = opened.db;
  }
  try {
    const stored = await sql<{ events: number; ids: number; value: string }>`
        select count(*)::int as events, count(distinct id)::int as ids, sum(value)::text as value
        from usage_events where meter = 'requests'`.execute(db);
    expect(stored.rows[0]).toEqual({ events: EVENTS, ids: EVENTS, value: String(expectedValue) });

    // The rollups, per tenant, meter, hour and subject, against an exact recompute from raw events.
    const recompute = sql`
        select tenant_id, meter, date_trunc('hour', time) as hour, subject, sum(value) as sum, count(*)::bigint as count,
               max(value) as max, (array_agg(time order by time desc, id desc))[1] as latest_time,
               (array_agg(id order by time desc, id desc))[1] as latest_id,
               (array_agg(value order by time desc, id desc))[1] as latest_value
        from usage_events where meter = 'requests' and voided_at is null
        group by tenant_id, meter, date_trunc('hour', time), subject`;
    const rollups = sql`
        select tenant_id, meter, hour, subject, sum, count, max, latest_time, latest_id, latest_value
        from usage_rollups where meter = 'requests'`;
    const differ = await sql<{ n: number }>`
        select count(*)::int as n from ((${recompute} except all ${rollups})
                                        union all (${rollups} except all ${recompute})) d`.execute(db);
    const rows = await sql<{ n: number; count: number }>`
        select count(*)::int as n, sum(count)::int as count from usage_rollups where meter = 'requests'`.execute(
      db,
    );
    expect(rows.rows[0]?.count).toBe(EVENTS);
    expect(rows.rows[0]?.n).toBeGreaterThan(48);
    expect(differ.rows[0]?.n).toBe(0);
    // Claims of requests whose server died before answering: retried under a fresh key.
    const stuck = await sql<{ n: number }>`
        select count(*)::int as n from idempotency_keys where status_code is null`.execute(db);
    abandonedKeys = stuck.rows[0]?.n ?? 0;
  } finally {
    await opened?.close();
  }
  process.stdout.write(
    `[ingest-reliability] ${process.env.TENANTRY_TEST_BACKEND ?? 'pglite'}: ${kills} SIGKILLs, ${abandonedKeys} idempotency keys left in progress by a killed server; summary ${summary.accepted} accepted, ${summary.duplicates} duplicates of ${summary.events} lines\n`,
  );
});
