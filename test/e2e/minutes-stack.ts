// What the end-to-end tests of examples/minutes share: `tenantry serve` on a database of its own
// with the app's login role and migrations, as the app's README sets it up, the CLI as the
// operator, and the app in a process of its own beside it. PostgreSQL only: the app connects to
// the vendor's database server as its own role, which PGlite cannot serve.
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { adminUrl, createTestDatabase, type TestDatabase } from '../../packages/server/test/harness.ts';
import { bin, freePort, type ServeProcess, startProcess, startServe } from './tenantry-process.ts';

const run = promisify(execFile);

/** The reference app's folder. */
export const example = join(import.meta.dirname, '..', '..', 'examples', 'minutes');

/** `tenantry serve` for examples/minutes, and the app once started. */
export interface MinutesStack {
  readonly database: TestDatabase;
  /** The control plane's database, as the administrator. */
  readonly databaseUrl: string;
  /** The same database as the app's own login role. */
  readonly appDatabaseUrl: string;
  /** The control plane, on 127.0.0.1. */
  readonly url: string;
  /** The operator's key. */
  readonly token: string;
  /** The app's spool folder. */
  readonly spool: string;
  /** Runs the CLI as the operator and answers its stdout. */
  tenantry(...args: string[]): Promise<string>;
  /** Runs the CLI as the operator with `--json` and answers the parsed output. */
  cli(...args: string[]): Promise<any>;
  /** `tenantry app migrate` of the app's migrations on the database; answers the run's report (the last JSON line). */
  migrateApp(): Promise<any>;
  /** Starts the app with `env` beside the stack's (control plane, database, spool) and waits until it listens. */
  startMinutes(env: Record<string, string>): Promise<ChildProcess>;
  /** Stops the app and the control plane, drops the database and the app's role, removes the spool. */
  close(): Promise<void>;
}

async function asAdmin(sql: string, at = adminUrl): Promise<void> {
  const client = new pg.Client({ connectionString: at });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Ends `child` with SIGTERM and waits for it to exit; nothing when it has exited already. */
export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Starts the stack; `env` is added to `tenantry serve`'s (e.g. its mail settings). */
export async function startMinutesStack(env: Record<string, string> = {}): Promise<MinutesStack> {
  // The tenant binding key, as a vendor sets it for the control plane, `tenantry app migrate` and
  // the app alike: every process below inherits it.
  process.env.TENANTRY_BINDING_KEY = randomBytes(32).toString('hex');
  const appRole = `minutes_app_${randomBytes(4).toString('hex')}`;
  const appPassword = randomBytes(12).toString('hex');
  // The operator's key, in the earlier (checksum-less) format a person makes with openssl: such
  // bootstrap tokens stay valid. The app itself runs on an app key made from it.
  const token = `tnt_op_${randomBytes(24).toString('base64url')}`;
  const database = await createTestDatabase();
  const databaseUrl = (database.target as { url: string }).url;
  // What the vendor does once, as in the README: the app's own login role, which owns nothing and
  // bypasses nothing, may read and write the pool tables the migrations will create.
  await asAdmin(`create role ${appRole} login password '${appPassword}'`);
  await asAdmin(
    `alter default privileges in schema public grant select, insert, update, delete on tables to ${appRole}`,
    databaseUrl,
  );
  const appDatabase = new URL(databaseUrl);
  appDatabase.username = appRole;
  appDatabase.password = appPassword;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server: ServeProcess = await startServe({
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    // As a deployment on PostgreSQL gives it: the key that seals secrets at rest.
    TENANTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    TENANTRY_BOOTSTRAP_TOKEN: token,
    TENANTRY_PUBLIC_URL: url,
    TENANTRY_APP_ROLE: appRole,
    TENANTRY_APP_MIGRATIONS: join(example, 'migrations'),
    ...env,
  });
  const spool = mkdtempSync(join(tmpdir(), 'minutes-spool-'));
  let minutes: ChildProcess | undefined;

  const tenantry = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
    });
    return stdout;
  };
  return {
    database,
    databaseUrl,
    appDatabaseUrl: appDatabase.toString(),
    url,
    token,
    spool,
    tenantry,
    cli: async (...args) => JSON.parse(await tenantry(...args, '--json')),
    async migrateApp() {
      const stdout = await tenantry(
        'app',
        'migrate',
        '--dir',
        join(example, 'migrations'),
        '--database-url',
        databaseUrl,
        '--json',
      );
      return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    },
    async startMinutes(appEnv) {
      const started = await startProcess(
        process.execPath,
        [join(example, 'src', 'server.ts')],
        {
          env: {
            ...process.env,
            TENANTRY_URL: url,
            MINUTES_DATABASE_URL: appDatabase.toString(),
            MINUTES_SPOOL_DIR: spool,
            ...appEnv,
          },
        },
        'minutes listening on',
      );
      minutes = started.child;
      return minutes;
    },
    async close() {
      await stop(minutes);
      await stop(server.child);
      await database.drop();
      await asAdmin(`drop role if exists ${appRole}`);
      rmSync(spool, { recursive: true, force: true });
    },
  };
}
