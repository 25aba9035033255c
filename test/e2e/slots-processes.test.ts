// Gauge limits held across app processes: four app instances (each its own process running the
// SDK) acquire and release slots of one gauge against `tenantry serve` (its own process, on the
// wall clock). One is killed with SIGKILL while it holds slots: the level the control plane
// reports never passes the limit, and once the dead instance's holder lapses it comes back to
// the slots the live instances hold.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../packages/server/test/harness.ts';
import { freePort, type ServeProcess, startServe } from './tenantry-process.ts';

const LIMIT = 6;
const PER_USER = 3;
/** Short, so that the dead instance's slots lapse soon; heartbeats go every second. */
const TTL_SECONDS = 3;

const PLANS = `currency: usd
meters:
  sessions:
    aggregation: time_weighted
plans:
  desk:
    name: Desk
    limits:
      sessions: { value: ${LIMIT}, per_subject: ${PER_USER} }
`;

let dir: string;
let database: TestDatabase | undefined;
let server: ServeProcess | undefined;
let url: string;
const token = `tnt_op_${randomBytes(24).toString('base64url')}`;
const apps: ChildProcess[] = [];

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

/** The level of the gauge as the control plane reports it, through the usage API and the snapshot alike. */
async function level(tenant: string): Promise<number> {
  const usage = await api('GET', `/v1/tenants/${tenant}/usage?meter=sessions`);
  expect(usage.status, JSON.stringify(usage.body)).toBe(200);
  return usage.body.level;
}

/** An app instance in its own process; `ask` sends a command and waits for its answer. */
function startApp(tenant: string, subject: string) {
  const child = fork(
    join(import.meta.dirname, 'slot-app.ts'),
    [url, token, tenant, 'sessions', subject, String(TTL_SECONDS)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  apps.push(child);
  const next = () =>
    new Promise<any>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`app ${subject} exited with ${code}`));
      child.once('exit', onExit);
      child.once('message', (message: any) => {
        child.off('exit', onExit);
        if (message.type === 'error') reject(new Error(message.message));
        else resolve(message);
      });
    });
  const ready = next();
  return {
    child,
    ready,
    ask(command: unknown): Promise<any> {
      const answer = next();
      child.send(command as object);
      return answer;
    },
  };
}

/** Polls `read` until `done` holds, checking `each` on every value read. */
async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  each: (value: T) => void,
): Promise<T> {
  for (;;) {
    const value = await read();
    each(value);
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tenantry-slots-'));
  url = `http://127.0.0.1:${await freePort()}`;
  const env: Record<string, string> = {
    PORT: new URL(url).port,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TENANTRY_DATA_DIR: join(dir, 'data'),
    TENANTRY_BOOTSTRAP_TOKEN: token,
  };
  if (process.env.TENANTRY_TEST_BACKEND === 'postgres') {
    database = await createTestDatabase();
    env.DATABASE_URL = (database.target as { url: string }).url;
  }
  server = await startServe(env);
});

afterAll(async () => {
  for (const app of apps) if (app.exitCode === null && app.signalCode === null) app.kill('SIGKILL');
  if (server && server.child.exitCode === null) {
    const exited = new Promise((resolve) => server?.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  }
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('app processes never pass a gauge limit, and a killed one gives its slots back when its holder lapses', {
  timeout: 120_000,
}, async () => {
  expect((await api('POST', '/v1/plans/apply', { source: PLANS })).status).toBe(200);
  const created = await api('POST', '/v1/tenants', { slug: 'desks', name: 'Desks', plan: 'desk' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const tenant: string = created.body.id;
  await until(
    () => api('GET', `/v1/tenants/${tenant}`),
    (t) => t.body.state === 'active' || t.body.state === 'trialing',
    () => {},
  );

  // The victim fills its user's cap and keeps the slots.
  const victim = startApp(tenant, 'victim');
  await victim.ready;
  expect(await victim.ask({ type: 'hold', n: PER_USER })).toMatchObject({ held: PER_USER });
  expect(await level(tenant)).toBe(PER_USER);

  // Three instances churn against the 3 slots left, while the level is watched from outside.
  const churners = ['u1', 'u2', 'u3'].map((subject) => startApp(tenant, subject));
  await Promise.all(churners.map((app) => app.ready));
  let watching = true;
  const levels: number[] = [];
  const watcher = (async () => {
    while (watching) levels.push(await level(tenant));
  })();
  const churned = await Promise.all(churners.map((app) => app.ask({ type: 'churn', rounds: 40 })));
  // Halfway: the victim dies with its slots open.
  victim.child.kill('SIGKILL');
  const churnedAfterKill = await Promise.all(churners.map((app) => app.ask({ type: 'churn', rounds: 20 })));
  watching = false;
  await watcher;
  expect(levels.length).toBeGreaterThan(0);
  expect(Math.max(...levels)).toBeLessThanOrEqual(LIMIT);
  // The pool was the limit that refused, never a user's cap (each churner holds two at most),
  // and it did refuse: while the victim held three, the churners wanted up to six of the three left.
  const answers = [...churned, ...churnedAfterKill];
  for (const answer of answers) {
    expect(answer.admitted).toBeGreaterThan(0);
    for (const refusal of answer.refused) expect(refusal).toBe('limit_exhausted:tenant');
  }
  expect(answers.reduce((sum, answer) => sum + answer.refused.length, 0)).toBeGreaterThan(0);

  // Each live instance takes one slot: with the victim's three maybe still counted, the pool is full.
  const holding = await Promise.all(churners.map((app) => app.ask({ type: 'hold', n: 1 })));
  const live = () => holding.reduce((sum, answer) => sum + answer.held, 0);
  expect(live()).toBeLessThanOrEqual(LIMIT);
  // Once the victim's holder lapses, the level is exactly what the live instances hold, and the
  // room it freed can be taken.
  await until(
    () => level(tenant),
    (value) => value === live(),
    (value) => expect(value).toBeLessThanOrEqual(LIMIT),
  );
  const snapshot = await api('GET', `/v1/tenants/${tenant}/entitlements`);
  expect(snapshot.body.limits.sessions.used).toBe(live());
  const more = await Promise.all(churners.map((app) => app.ask({ type: 'hold', n: 1 })));
  const total = more.reduce((sum, answer) => sum + answer.held, 0);
  expect(total).toBe(LIMIT);
  expect(await level(tenant)).toBe(LIMIT);

  // Closing the SDKs releases every slot at once.
  await Promise.all(
    churners.map(
      (app) =>
        new Promise((resolve) => {
          app.child.once('exit', resolve);
          app.child.send({ type: 'exit' });
        }),
    ),
  );
  expect(await level(tenant)).toBe(0);
});
