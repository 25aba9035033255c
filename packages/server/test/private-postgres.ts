// A PostgreSQL server of a test's own — a cluster made by initdb, on a free port, removed after —
// for tests that stop and start the server under a running control plane, which they may not do
// to the shared server every other test uses. It runs the newest PostgreSQL installed on this
// machine (Debian's /usr/lib/postgresql/<version>/bin, or TENANTRY_TEST_PG_BINDIR); initdb
// refuses to run as root, so under root the cluster belongs to the `postgres` user.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../../test/e2e/tenantry-process.ts';

const run = promisify(execFile);

export interface PrivatePostgres {
  /** A URL of its `postgres` database, as the server's own superuser (trust authentication). */
  readonly url: string;
  /** Starts the server again after {@link stop}, on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server as an operator's restart does (`pg_ctl stop -m fast`): sessions are ended. */
  stop(): Promise<void>;
  /** Stops the server at once, if it runs, and deletes its data directory. */
  remove(): Promise<void>;
}

/** The directory of the newest installed PostgreSQL's programs (initdb, pg_ctl). */
function binDir(): string {
  const configured = process.env.TENANTRY_TEST_PG_BINDIR;
  if (configured) return configured;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      `this test runs a PostgreSQL server of its own and found no initdb under ${root}/<version>/bin; install PostgreSQL's server package or set TENANTRY_TEST_PG_BINDIR`,
    );
  }
  return join(root, newest, 'bin');
}

/**
 * Makes a cluster with initdb and starts it; with `netns`, the server runs in that network
 * namespace (`ip netns exec`), listening on the namespace's own loopback.
 */
export async function startPrivatePostgres(place: { netns?: string } = {}): Promise<PrivatePostgres> {
  const bin = binDir();
  const asOwner = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  const inNamespace = place.netns === undefined ? [] : ['ip', 'netns', 'exec', place.netns];
  const exec = async (file: string, args: string[]): Promise<string> => {
    const [command, ...rest] = [...asOwner, file, ...args] as [string, ...string[]];
    return (await run(command, rest, { env: { ...process.env, LC_ALL: 'C' } })).stdout.trim();
  };
  const dataDir = await exec('mktemp', ['-d', '/tmp/tenantry-test-pg-XXXXXX']);
  const port = await freePort();
  await exec(join(bin, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  // Durability is not under test: fsync off makes start-up and checkpoints cheap on a shared disk.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dataDir} -c fsync=off`;
  const pgCtl = async (...args: string[]): Promise<string> => {
    const [command, ...rest] = [
      ...inNamespace,
      ...asOwner,
      join(bin, 'pg_ctl'),
      '-D',
      dataDir,
      '-w',
      '-t',
      '60',
      ...args,
    ] as [string, ...string[]];
    return (await run(command, rest, { env: { ...process.env, LC_ALL: 'C' } })).stdout.trim();
  };
  const start = async () => {
    await pgCtl('-l', join(dataDir, 'server.log'), '-o', options, 'start');
  };
  let running = false;
  await start();
  running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await start();
      running = true;
    },
    async stop() {
      await pgCtl('-m', 'fast', 'stop');
      running = false;
    },
    async remove() {
      if (running) await pgCtl('-m', 'immediate', 'stop');
      running = false;
      await exec('rm', ['-rf', dataDir]);
    },
  };
}
