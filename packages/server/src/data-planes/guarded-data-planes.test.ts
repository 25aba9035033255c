import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dropTestDataPlanes, testDataPlane } from '../../test/data-plane-support.ts';
import { otherProcess, SETTINGS, startTestApp, type TestApp } from '../../test/harness.ts';
import { closedPort, type SilentServer, silentServer } from '../../test/silent-server.ts';
import { parseConnection } from './connection.ts';
import { sealVendorConnection } from './connection-seal.ts';
import type { DataPlaneConnector } from './data-plane-connector.ts';
import {
  ControlPlaneServer,
  DataPlaneHealthChecker,
  DataPlaneUnavailableError,
  inspectConnection,
  RegisteredDataPlanes,
} from './index.ts';

/*
 * One dead data plane beside a healthy one: a server that accepts TCP and never answers (a hung
 * database, a black-holing firewall). Its calls are bounded by the connect timeout, at most its
 * bulkhead's worth hold a socket, and once its breaker opens they fail at once, without touching
 * the server; the healthy data plane answers throughout.
 */

let t: TestApp;
let silent: SilentServer;
beforeEach(async () => {
  t = await startTestApp();
  silent = await silentServer();
});
afterEach(async () => {
  await silent.close();
  await t.close();
});
afterAll(() => dropTestDataPlanes());

/** Registers a vendor data plane by SQL, as registration would store it (without validating it). */
async function insertPlane(name: string, connection: Record<string, unknown>): Promise<string> {
  const parsed = parseConnection(connection);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const id = `dpl_test_${name.replaceAll('-', '_')}`;
  await t.services.database.db
    .insertInto('data_planes')
    .values({
      id,
      name,
      kind: 'vendor',
      region: null,
      capacity: null,
      tenant_id: null,
      connection_sealed: await sealVendorConnection(SETTINGS.secrets, id, parsed.value),
    })
    .execute();
  return id;
}

function connector(guard: Partial<ConstructorParameters<typeof RegisteredDataPlanes>[0]['guard']> = {}) {
  return new RegisteredDataPlanes({
    db: t.services.database.db,
    secrets: SETTINGS.secrets,
    control: new ControlPlaneServer(t.services.database.db, undefined),
    guard: {
      failuresToOpen: 2,
      halfOpenAfterMs: 60_000,
      concurrency: 2,
      queue: 2,
      timeouts: { connectMs: 300, statementMs: 5_000 },
      ...guard,
    },
  });
}

const selectOne = (db: Parameters<Parameters<RegisteredDataPlanes['run']>[1]>[0]) =>
  sql<{ n: number }>`select 1 as n`.execute(db).then((r) => r.rows[0]?.n);

describe('a breaker and a bulkhead per data plane', () => {
  it('fails calls to a hung data plane fast once its breaker opens, while a healthy one keeps answering', async () => {
    const healthy = await testDataPlane('vendor');
    const live = await insertPlane('live', healthy.connection);
    const dead = await insertPlane('dead', { ...healthy.connection, port: silent.port });
    const planes = connector();
    try {
      // The first calls wait for the connect timeout, and each fails as the data plane's outage.
      for (let i = 0; i < 2; i++) {
        const failed = planes.run(dead, selectOne);
        await expect(failed).rejects.toBeInstanceOf(DataPlaneUnavailableError);
        await expect(failed).rejects.toThrow(/timeout/i);
      }
      expect(await planes.breakerState(dead)).toBe('open');
      const accepted = silent.accepted();
      // Open: a hundred calls fail with the breaker's answer and never reach the server.
      const calls = await Promise.allSettled(Array.from({ length: 100 }, () => planes.run(dead, selectOne)));
      for (const call of calls) {
        expect(call.status).toBe('rejected');
        const reason = (call as PromiseRejectedResult).reason;
        expect(reason).toBeInstanceOf(DataPlaneUnavailableError);
        expect(String(reason.message)).toMatch(/circuit breaker is open/);
      }
      expect(silent.accepted()).toBe(accepted);
      // Meanwhile, and interleaved with more calls to the dead one, the healthy one answers each time.
      for (let i = 0; i < 10; i++) {
        const [toLive, toDead] = await Promise.allSettled([
          planes.run(live, selectOne),
          planes.run(dead, selectOne),
        ]);
        expect(toLive).toEqual({ status: 'fulfilled', value: 1 });
        expect(toDead.status).toBe('rejected');
      }
      expect(await planes.breakerState(live)).toBe('closed');
    } finally {
      await planes.close();
    }
  });

  it('lets at most its bulkhead of calls hold the dead server, and refuses the rest at once', async () => {
    const healthy = await testDataPlane('vendor');
    const dead = await insertPlane('dead-bulk', { ...healthy.connection, port: silent.port });
    const planes = connector({ failuresToOpen: 1_000 });
    try {
      const calls = await Promise.allSettled(Array.from({ length: 30 }, () => planes.run(dead, selectOne)));
      const reasons = calls.map((c) => String((c as PromiseRejectedResult).reason?.message));
      expect(calls.every((c) => c.status === 'rejected')).toBe(true);
      // 2 run, 2 wait, 26 are refused without a connection: at most 4 sockets were ever opened.
      expect(reasons.filter((r) => /2 calls are running on it and 2 waiting/.test(r))).toHaveLength(26);
      expect(silent.accepted()).toBeLessThanOrEqual(4);
    } finally {
      await planes.close();
    }
  });

  it('does not count a wrong statement against the data plane', async () => {
    const healthy = await testDataPlane('vendor');
    const live = await insertPlane('live-sql', healthy.connection);
    const planes = connector();
    try {
      for (let i = 0; i < 5; i++)
        await expect(planes.run(live, (db) => sql`select * from no_such_table`.execute(db))).rejects.toThrow(
          /no_such_table/,
        );
      expect(await planes.breakerState(live)).toBe('closed');
      expect(await planes.run(live, selectOne)).toBe(1);
    } finally {
      await planes.close();
    }
  });
});

describe('validating a connection with bounded time', () => {
  it('names a server that never answers as unreachable (timed out), within the connect timeout', async () => {
    const healthy = await testDataPlane('vendor');
    const parsed = parseConnection({ ...healthy.connection, port: silent.port });
    if (!parsed.ok) throw new Error('unparsed');
    const result = await inspectConnection(
      parsed.value,
      { kind: 'vendor' },
      { connectMs: 300, statementMs: 1_000 },
    );
    expect(result).toEqual({
      ok: false,
      error: {
        code: 'data_plane_unreachable',
        detail: `127.0.0.1:${silent.port} did not answer within 300 ms (timed out)`,
      },
    });
  });
});

describe('the health check', () => {
  it('finds each data plane’s health, degraded then unhealthy, records only changes, and writes nothing in a quiet round', async () => {
    const healthy = await testDataPlane('vendor');
    const live = await insertPlane('health-live', healthy.connection);
    const dead = await insertPlane('health-dead', { ...healthy.connection, port: await closedPort() });
    const planes = connector({ failuresToOpen: 1_000 });
    const checker = new DataPlaneHealthChecker({
      db: t.services.database.db,
      clock: t.clock,
      connector: planes,
      settings: { unhealthyAfter: 3, refreshMs: 60_000, timeoutMs: 2_000 },
    });
    const health = async (id: string) =>
      (
        await t.services.database.db
          .selectFrom('data_planes')
          .select(['health', 'health_detail'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
      ).health;
    try {
      expect(await checker.checkAll()).toEqual({ checked: 2, writes: 2, changed: 2 });
      expect([await health(live), await health(dead)]).toEqual(['healthy', 'degraded']);
      // Within the refresh interval, the healthy one is not written again; the dead one stays
      // degraded, its count of failures written (2).
      expect(await checker.checkAll()).toEqual({ checked: 2, writes: 1, changed: 0 });
      expect(await checker.checkAll()).toEqual({ checked: 2, writes: 1, changed: 1 });
      expect(await health(dead)).toBe('unhealthy');
      // Down for good: its count stays at unhealthyAfter, and a quiet round writes nothing.
      expect(await checker.checkAll()).toEqual({ checked: 2, writes: 0, changed: 0 });
      const changes = await t.services.database.db
        .selectFrom('domain_events')
        .select(['data'])
        .where('type', '=', 'data_plane.health_changed')
        .execute();
      const seen = changes.map((c) => {
        const data = (typeof c.data === 'string' ? JSON.parse(c.data) : c.data) as Record<string, unknown>;
        return `${data.data_plane_id}:${data.from}->${data.to}`;
      });
      expect(seen.sort()).toEqual(
        [`${live}:unknown->healthy`, `${dead}:unknown->degraded`, `${dead}:degraded->unhealthy`].sort(),
      );
      // Past the refresh interval, each unchanged data plane's check time is written once.
      t.clock.advance(61_000);
      expect(await checker.checkAll()).toEqual({ checked: 2, writes: 2, changed: 0 });
    } finally {
      await planes.close();
    }
  });
});

/** A process's connector that counts its calls per data plane, and may hold them until `open()`. */
function countingConnector(inner: DataPlaneConnector, options: { held?: boolean } = {}) {
  const calls = new Map<string, number>();
  let open: () => void = () => {};
  const gate = options.held ? new Promise<void>((resolve) => (open = resolve)) : Promise.resolve();
  let called: () => void = () => {};
  const firstCall = new Promise<void>((resolve) => (called = resolve));
  const connector: DataPlaneConnector = {
    async run(id, fn) {
      calls.set(id, (calls.get(id) ?? 0) + 1);
      called();
      await gate;
      return inner.run(id, fn);
    },
    runIn: (id, database, fn) => inner.runIn(id, database, fn),
    hasDatabases: (id) => inner.hasDatabases(id),
  };
  return { connector, calls, firstCall, open: () => open() };
}

describe('the health check across control-plane processes', () => {
  const INTERVAL = 30_000;
  const LEASE = 60_000;
  const settings = { unhealthyAfter: 3, timeoutMs: 2_000, intervalMs: INTERVAL, leaseMs: LEASE };

  /** A checker of another process over the same database: its own connector, the same clock. */
  function processChecker(planes: DataPlaneConnector, overrides: Partial<typeof settings> = {}) {
    return new DataPlaneHealthChecker({
      db: t.services.database.db,
      clock: t.clock,
      connector: planes,
      settings: { ...settings, ...overrides },
    });
  }

  const row = (id: string) =>
    t.services.database.db
      .selectFrom('data_planes')
      .select(['health', 'health_failures'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  const changes = async () =>
    (
      await t.services.database.db
        .selectFrom('domain_events')
        .select(['data'])
        .where('type', '=', 'data_plane.health_changed')
        .execute()
    ).map((c) => {
      const data = (typeof c.data === 'string' ? JSON.parse(c.data) : c.data) as Record<string, unknown>;
      return `${data.data_plane_id}:${data.from}->${data.to}`;
    });

  it('checks each data plane once per round, not once per process', async () => {
    const healthy = await testDataPlane('vendor');
    const ids = [
      await insertPlane('turn-a', healthy.connection),
      await insertPlane('turn-b', healthy.connection),
      await insertPlane('turn-c', healthy.connection),
    ];
    const planes = connector();
    const one = countingConnector(planes);
    const two = countingConnector(planes);
    const a = processChecker(one.connector);
    const b = processChecker(two.connector);
    const checksOf = (id: string) => (one.calls.get(id) ?? 0) + (two.calls.get(id) ?? 0);
    try {
      for (let round = 1; round <= 3; round++) {
        // Both processes ask at once: one runs the round, the other finds it is not its turn.
        const turns = await Promise.all([a.checkIfDue(), b.checkIfDue()]);
        expect(turns.filter((turn) => turn.round !== null).map((turn) => turn.round?.checked)).toEqual([3]);
        for (const id of ids) expect(checksOf(id)).toBe(round);
        // Asked again within the interval, neither runs one; both are told when the next is due.
        const again = await Promise.all([a.checkIfDue(), b.checkIfDue()]);
        expect(again.map((turn) => turn.round)).toEqual([null, null]);
        expect(again.map((turn) => turn.nextAt.getTime())).toEqual([
          t.clock.now().getTime() + INTERVAL,
          t.clock.now().getTime() + INTERVAL,
        ]);
        for (const id of ids) expect(checksOf(id)).toBe(round);
        t.clock.advance(INTERVAL);
      }
      for (const id of ids) expect(await row(id)).toEqual({ health: 'healthy', health_failures: 0 });
      expect((await changes()).sort()).toEqual(ids.map((id) => `${id}:unknown->healthy`).sort());
      // The server's own checker and a second process's take turns the same way.
      const other = otherProcess(t);
      const [mine, theirs] = await Promise.all([
        t.services.dataPlaneHealth.checkIfDue(),
        other.dataPlaneHealth.checkIfDue(),
      ]);
      expect([mine.round, theirs.round].filter((r) => r !== null)).toHaveLength(1);
    } finally {
      await planes.close();
    }
  });

  it('counts failures in the database: one in one process and two in another make it unhealthy', async () => {
    const healthy = await testDataPlane('vendor');
    const dead = await insertPlane('turn-dead', { ...healthy.connection, port: await closedPort() });
    const planes = connector({ failuresToOpen: 1_000 });
    const a = processChecker(planes);
    const b = processChecker(planes);
    try {
      expect((await a.checkIfDue()).round).toEqual({ checked: 1, writes: 1, changed: 1 });
      expect(await row(dead)).toEqual({ health: 'degraded', health_failures: 1 });
      t.clock.advance(INTERVAL);
      expect((await b.checkIfDue()).round).toEqual({ checked: 1, writes: 1, changed: 0 });
      expect(await row(dead)).toEqual({ health: 'degraded', health_failures: 2 });
      t.clock.advance(INTERVAL);
      expect((await b.checkIfDue()).round).toEqual({ checked: 1, writes: 1, changed: 1 });
      expect(await row(dead)).toEqual({ health: 'unhealthy', health_failures: 3 });
      expect((await changes()).sort()).toEqual([`${dead}:degraded->unhealthy`, `${dead}:unknown->degraded`]);
    } finally {
      await planes.close();
    }
  });

  it('takes over from a process that died during a round once its lease has run out', async () => {
    const healthy = await testDataPlane('vendor');
    const live = await insertPlane('turn-live', healthy.connection);
    const planes = connector();
    // Process A takes the round and stops in the middle of it: it never answers, never renews.
    const hung = countingConnector(planes, { held: true });
    const a = processChecker(hung.connector, { timeoutMs: 600_000 });
    const b = processChecker(planes);
    const taken = t.clock.now().getTime();
    const stuck = a.checkIfDue();
    try {
      await hung.firstCall;
      expect(await b.checkIfDue()).toEqual({ round: null, nextAt: new Date(taken + LEASE) });
      // Due again, but still held: not before the lease runs out.
      t.clock.advance(INTERVAL);
      expect((await b.checkIfDue()).round).toBeNull();
      t.clock.advance(LEASE - INTERVAL - 1);
      expect((await b.checkIfDue()).round).toBeNull();
      t.clock.advance(1);
      expect((await b.checkIfDue()).round).toEqual({ checked: 1, writes: 1, changed: 1 });
      expect(await row(live)).toEqual({ health: 'healthy', health_failures: 0 });
      // A wakes up late: its result, read before B wrote, does not overwrite B's or record again.
      hung.open();
      expect((await stuck).round).toEqual({ checked: 1, writes: 0, changed: 0 });
      expect(await changes()).toEqual([`${live}:unknown->healthy`]);
      // The next round is due an interval after B's, whoever asks.
      expect((await a.checkIfDue()).round).toBeNull();
      t.clock.advance(INTERVAL);
      expect((await a.checkIfDue()).round).toEqual({ checked: 1, writes: 0, changed: 0 });
    } finally {
      hung.open();
      await stuck;
      await planes.close();
    }
  });
});
