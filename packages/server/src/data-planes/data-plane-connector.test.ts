import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { ControlPlaneServer, DataPlaneUnavailableError, DEFAULT_DATA_PLANE } from './index.ts';

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(() => t.close());

describe('the control plane’s own server as a data plane', () => {
  it('runs SQL on dpl_default and refuses a data plane it does not hold', async () => {
    const server = new ControlPlaneServer(t.db.database.db, undefined);
    const found = await server.run(DEFAULT_DATA_PLANE, (db) => sql<{ n: number }>`select 1 as n`.execute(db));
    expect(found.rows).toEqual([{ n: 1 }]);
    await expect(server.run('dpl_other', async () => 1)).rejects.toBeInstanceOf(DataPlaneUnavailableError);
  });

  it('reaches no other database without a server URL (embedded PGlite), and says why', async () => {
    const server = new ControlPlaneServer(t.db.database.db, undefined);
    expect(server.hasDatabases(DEFAULT_DATA_PLANE)).toBe(false);
    await expect(server.runIn(DEFAULT_DATA_PLANE, 'postgres', async () => 1)).rejects.toThrow(
      /embedded PGlite/,
    );
  });
});
