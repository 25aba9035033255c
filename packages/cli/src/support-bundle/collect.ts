import { type ExecFileException, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { arch, platform, release } from 'node:os';
import { basename, join } from 'node:path';
import { licenseKeyring, verifyLicense } from '@tenantry/core';
import { sql } from 'kysely';
import { isRecord } from '../is-record.ts';
import { isSecretName, type Redactor } from './redact.ts';

/** The environment variables Tenantry reads (the server's config, the CLI, the SDK); others named TENANTRY_*, PG* or STRIPE_* are added when set. */
export const TENANTRY_ENV = [
  'DATABASE_URL',
  'TENANTRY_DATA_DIR',
  'TENANTRY_MASTER_KEY',
  'PORT',
  'HOST',
  'TENANTRY_BOOTSTRAP_TOKEN',
  'LOG_LEVEL',
  'TENANTRY_DELETION_RETENTION_DAYS',
  'TENANTRY_POOL_SCHEMA',
  'TENANTRY_USAGE_LATE_WINDOW_DAYS',
  'TENANTRY_APP_ROLE',
  'TENANTRY_AUDIT_CHECKPOINT_MINUTES',
  'TENANTRY_AUDIT_RETENTION_DAYS',
  'TENANTRY_PUBLIC_URL',
  'TENANTRY_APP_MIGRATIONS',
  'TENANTRY_WEBHOOK_ALLOW_HOSTS',
  'TENANTRY_WEBHOOK_TIMEOUT_MS',
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'TENANTRY_URL',
  'TENANTRY_TOKEN',
  'TENANTRY_BINDING_KEY',
  'NODE_ENV',
] as const;

/** The most of one log file a bundle takes: its end, the recent part. */
const MAX_LOG_BYTES = 8 * 1024 * 1024;
const HTTP_TIMEOUT_MS = 5_000;
const JOURNAL_TIMEOUT_MS = 30_000;
const MAX_TABLES = 100;

/** What the collector is given: the command's flags and environment, resolved. */
export interface CollectOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the running control plane is expected. */
  readonly url: string;
  /** Lists the control plane's license keys with the operator's token; undefined when no token is set. */
  readonly licenseKeys: (() => Promise<unknown>) | undefined;
  readonly fetch: typeof fetch;
  readonly logs: readonly string[];
  readonly journalUnit: string;
  readonly since: Date;
  readonly license: { readonly file: string; readonly keys: string } | undefined;
  readonly now: Date;
  readonly versions: Readonly<Record<string, string>>;
}

/** One source of the bundle, as collected or as it would be (`--preview`). */
export interface SourceNote {
  readonly source: string;
  readonly status: 'collected' | 'unavailable' | 'skipped' | 'would collect';
  readonly detail: string;
}

/** A file of the bundle, already redacted. */
export interface BundleFile {
  readonly path: string;
  readonly text: string;
}

/** The secret values the environment holds, to be redacted wherever they turn up. */
export function knownSecrets(env: Readonly<Record<string, string | undefined>>): string[] {
  const values: string[] = [];
  for (const [name, value] of Object.entries(collectedEnv(env))) {
    if (value === undefined || value === '') continue;
    if (isSecretName(name)) values.push(value, ...value.split(',').map((v) => v.trim()));
    // A connection string's password, raw and as the URL encodes it.
    if (URL.canParse(value)) {
      const password = new URL(value).password;
      if (password !== '') values.push(password, decodeURIComponent(password));
    }
  }
  return values;
}

/** The environment variables the bundle reports: Tenantry's, and any other TENANTRY_*, PG* or STRIPE_* set. */
function collectedEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const names = new Set<string>(TENANTRY_ENV);
  for (const name of Object.keys(env)) if (/^(TENANTRY_|PG|STRIPE_)/.test(name)) names.add(name);
  return Object.fromEntries([...names].sort().map((name) => [name, env[name]]));
}

/** The log files `--logs` names: a file, or the regular files directly in a folder; and those it cannot read, with why. */
async function logFiles(paths: readonly string[]): Promise<{ files: string[]; unreadable: string[] }> {
  const files: string[] = [];
  const unreadable: string[] = [];
  for (const path of paths) {
    try {
      if ((await stat(path)).isDirectory()) {
        const entries = await readdir(path, { withFileTypes: true });
        for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name)))
          if (entry.isFile()) files.push(join(path, entry.name));
      } else files.push(path);
    } catch (error) {
      unreadable.push(`${path} (${fsReason(error)})`);
    }
  }
  return { files, unreadable };
}

function run(
  command: string,
  args: readonly string[],
): Promise<{ stdout: string; error?: ExecFileException }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: JOURNAL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) =>
      resolve(error ? { stdout, error } : { stdout }),
    );
  });
}

/** What `--preview` prints: each source and what it would read, touching nothing but `stat` and `journalctl --version`. */
export async function previewSources(options: CollectOptions): Promise<SourceNote[]> {
  const { files, unreadable } = await logFiles(options.logs);
  const journal = await run('journalctl', ['--version']);
  const database = options.env.DATABASE_URL
    ? 'PostgreSQL at DATABASE_URL (credentials redacted)'
    : `embedded PGlite in ${options.env.TENANTRY_DATA_DIR || './.tenantry'}, unless a running server holds it`;
  return [
    { source: 'version', status: 'would collect', detail: 'package versions, Node.js, operating system' },
    {
      source: 'configuration',
      status: 'would collect',
      detail: `the resolved config and ${Object.keys(collectedEnv(options.env)).length} environment variables, redacted`,
    },
    { source: 'health', status: 'would collect', detail: `${options.url}/healthz and /readyz` },
    {
      source: 'migrations',
      status: 'would collect',
      detail: `applied and pending migrations of ${database}`,
    },
    {
      source: 'logs',
      status: files.length > 0 ? 'would collect' : 'skipped',
      detail:
        files.length > 0
          ? `${files.join(', ')} (lines since ${options.since.toISOString()})${unreadable.length > 0 ? `; cannot read: ${unreadable.join(', ')}` : ''}`
          : unreadable.length > 0
            ? `cannot read: ${unreadable.join(', ')}`
            : 'no --logs given',
    },
    {
      source: 'journald',
      status: journal.error ? 'unavailable' : 'would collect',
      detail: journal.error
        ? journalUnavailable(journal.error)
        : `journalctl -u ${options.journalUnit} since ${options.since.toISOString()}`,
    },
    {
      source: 'license',
      status: options.licenseKeys || options.license ? 'would collect' : 'skipped',
      detail: [
        options.licenseKeys ? 'license keys from the control plane' : 'no API token: no license keys',
        options.license
          ? `${options.license.file} verified against ${options.license.keys}`
          : 'no --license/--keys',
      ].join('; '),
    },
    { source: 'database', status: 'would collect', detail: `statistics of ${database}` },
  ];
}

/**
 * Collects every source into files, each redacted as it is made. Each source that cannot be read
 * says why in its note (the caller redacts the notes too); none stops the others.
 */
export async function collectSources(
  options: CollectOptions,
  redactor: Redactor,
): Promise<{ files: BundleFile[]; notes: SourceNote[] }> {
  const files: BundleFile[] = [];
  const notes: SourceNote[] = [];
  const json = (path: string, value: unknown) =>
    files.push({ path, text: `${JSON.stringify(redactor.value(value), null, 2)}\n` });

  json('version.json', {
    packages: options.versions,
    node: process.version,
    os: { platform: platform(), release: release(), arch: arch() },
    collected_at: options.now.toISOString(),
  });
  notes.push({ source: 'version', status: 'collected', detail: 'version.json' });

  const server = await import('@tenantry/server');
  const config = server.loadConfig({ ...options.env });
  json(
    'config/config.json',
    config.ok ? { valid: true, config: config.value } : { valid: false, error: config.error },
  );
  const env = collectedEnv(options.env);
  files.push({
    path: 'config/environment.env',
    text: redactor.text(
      `${Object.entries(env)
        .map(([name, value]) => (value === undefined ? `# ${name} is not set` : `${name}=${value}`))
        .join('\n')}\n`,
    ),
  });
  notes.push({
    source: 'configuration',
    status: 'collected',
    detail: config.ok
      ? 'config/config.json, config/environment.env'
      : `the configuration is invalid: ${config.error}`,
  });

  const health = await collectHealth(options);
  json('health.json', health);
  notes.push({
    source: 'health',
    status: health.reachable ? 'collected' : 'unavailable',
    detail: health.reachable
      ? `health.json (${options.url})`
      : `no server answered at ${options.url}: ${health.error ?? ''}`,
  });

  const database = await collectDatabase(server, config.ok ? config.value : undefined, health.reachable);
  if (database.migrations !== undefined) json('migrations.json', database.migrations);
  if (database.statistics !== undefined) json('database.json', database.statistics);
  notes.push(...database.notes);

  const logs = await collectLogs(options, redactor);
  files.push(...logs.files);
  notes.push(...logs.notes);

  const license = await collectLicense(options);
  if (license.value !== undefined) json('license.json', license.value);
  notes.push(...license.notes);
  return { files, notes };
}

async function collectHealth(
  options: CollectOptions,
): Promise<{ reachable: boolean; error?: string } & Record<string, unknown>> {
  const probe = async (path: string) => {
    const response = await options.fetch(`${options.url}${path}`, {
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: kept as text, redacted like the rest.
    }
    return { status: response.status, body };
  };
  try {
    const healthz = await probe('/healthz');
    const readyz = await probe('/readyz');
    return { reachable: true, url: options.url, healthz, readyz };
  } catch (error) {
    const cause = error instanceof Error && isRecord(error.cause) ? error.cause.code : undefined;
    const reason = typeof cause === 'string' ? cause : error instanceof Error ? error.message : String(error);
    return { reachable: false, url: options.url, error: reason };
  }
}

type ServerModule = typeof import('@tenantry/server');
type OpenDatabase = Awaited<ReturnType<ServerModule['openDatabase']>>;
type ServerConfig = Extract<ReturnType<ServerModule['loadConfig']>, { ok: true }>['value'];

/** Statistics and migration status, from the database the configuration names. */
async function collectDatabase(
  server: ServerModule,
  config: ServerConfig | undefined,
  serverRunning: boolean,
): Promise<{ migrations?: unknown; statistics?: unknown; notes: SourceNote[] }> {
  const unavailable = (detail: string) => ({
    notes: [
      { source: 'migrations', status: 'unavailable' as const, detail },
      { source: 'database', status: 'unavailable' as const, detail },
    ],
  });
  if (config === undefined) return unavailable('the configuration is invalid (see config/config.json)');
  const target = config.database;
  if ('dataDir' in target) {
    // PGlite is one process's database: opening it beside the running server would corrupt it.
    if (serverRunning)
      return unavailable(
        `the running server holds the embedded database in ${target.dataDir} (PGlite serves one process); /readyz in health.json says whether its migrations are current`,
      );
    if (!existsSync(join(target.dataDir, 'PG_VERSION')))
      return unavailable(
        `no embedded database in ${target.dataDir} (it is made when the server first starts)`,
      );
  }
  let database: OpenDatabase;
  try {
    database = await server.openDatabase(target);
  } catch (error) {
    return unavailable(`cannot open the database: ${errorText(error)}`);
  }
  try {
    const statistics: Record<string, unknown> = { backend: database.backend };
    // The first query tells whether the database answers at all; the others then fail alone.
    try {
      statistics.version = await rows(
        database,
        "select version() as version, current_setting('server_version') as server_version",
      );
    } catch (error) {
      return unavailable(`the database does not answer: ${errorText(error)}`);
    }
    const notes: SourceNote[] = [];
    let migrations: unknown;
    try {
      migrations = await server.migrationStatus(database.db);
      notes.push({ source: 'migrations', status: 'collected', detail: 'migrations.json' });
    } catch (error) {
      notes.push({ source: 'migrations', status: 'unavailable', detail: errorText(error) });
    }
    const failed: string[] = [];
    const query = async (name: string, text: string) => {
      try {
        statistics[name] = await rows(database, text);
      } catch (error) {
        failed.push(name);
        statistics[name] = { error: errorText(error) };
      }
    };
    await query('database_size', 'select pg_database_size(current_database())::bigint as bytes');
    await query(
      'connections',
      `select coalesce(state, 'unknown') as state, count(*)::int as connections
         from pg_stat_activity where datname = current_database() group by 1 order by 1`,
    );
    await query('max_connections', "select current_setting('max_connections')::int as max_connections");
    await query(
      'tables',
      `select n.nspname as schema, c.relname as table, c.reltuples::bigint as row_estimate,
              pg_total_relation_size(c.oid)::bigint as total_bytes
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg_toast%'
        order by total_bytes desc, 1, 2 limit ${MAX_TABLES}`,
    );
    notes.push({
      source: 'database',
      status: 'collected',
      detail: `database.json (${database.backend})${failed.length > 0 ? `; not available there: ${failed.join(', ')}` : ''}`,
    });
    return { migrations, statistics, notes };
  } finally {
    await database.close();
  }
}

async function rows(database: OpenDatabase, text: string): Promise<unknown[]> {
  return (await sql.raw(text).execute(database.db)).rows;
}

/** Log lines since `--since`: a line whose time cannot be read (pino's `time`, or a leading ISO instant) is kept. */
function recentLines(text: string, since: Date): string {
  const cutoff = since.getTime();
  return text
    .split('\n')
    .filter((line) => {
      const time = lineTime(line);
      return time === undefined || time >= cutoff;
    })
    .join('\n');
}

function lineTime(line: string): number | undefined {
  const pino = /^\{.*"time":\s*(\d{12,14})[,}]/.exec(line);
  if (pino?.[1] !== undefined) return Number(pino[1]);
  const iso = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))/.exec(line);
  if (iso?.[1] !== undefined) {
    const time = Date.parse(iso[1].replace(' ', 'T'));
    return Number.isNaN(time) ? undefined : time;
  }
  return undefined;
}

async function readTail(file: string): Promise<{ text: string; truncated: boolean }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - MAX_LOG_BYTES);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8');
    // A cut line would be half a secret to the rules: start at the first whole line.
    return start === 0
      ? { text, truncated: false }
      : { text: text.slice(text.indexOf('\n') + 1), truncated: true };
  } finally {
    await handle.close();
  }
}

async function collectLogs(
  options: CollectOptions,
  redactor: Redactor,
): Promise<{ files: BundleFile[]; notes: SourceNote[] }> {
  const files: BundleFile[] = [];
  const notes: SourceNote[] = [];
  const { files: found, unreadable } = await logFiles(options.logs);
  const taken = new Set<string>();
  const read: string[] = [];
  for (const file of found) {
    let name = basename(file);
    for (let n = 2; taken.has(name); n++) name = `${n}-${basename(file)}`;
    taken.add(name);
    try {
      const tail = await readTail(file);
      files.push({ path: `logs/${name}`, text: redactor.text(recentLines(tail.text, options.since)) });
      read.push(tail.truncated ? `${file} (its last ${MAX_LOG_BYTES / 1024 / 1024} MiB)` : file);
    } catch (error) {
      unreadable.push(`${file} (${fsReason(error)})`);
    }
  }
  if (options.logs.length === 0) notes.push({ source: 'logs', status: 'skipped', detail: 'no --logs given' });
  else
    notes.push({
      source: 'logs',
      status: read.length > 0 ? 'collected' : 'unavailable',
      detail: [
        read.length > 0 ? `read ${read.join(', ')}` : 'no log file read',
        ...(unreadable.length > 0 ? [`not read: ${unreadable.join(', ')}`] : []),
      ].join('; '),
    });

  const journal = await run('journalctl', [
    '-u',
    options.journalUnit,
    '--no-pager',
    '-o',
    'short-iso',
    '--since',
    `@${Math.floor(options.since.getTime() / 1000)}`,
  ]);
  if (journal.error) {
    notes.push({ source: 'journald', status: 'unavailable', detail: journalUnavailable(journal.error) });
  } else if (journal.stdout.trim() === '' || /^-- No entries --\s*$/m.test(journal.stdout)) {
    notes.push({
      source: 'journald',
      status: 'unavailable',
      detail: `the journal has no entries for unit ${options.journalUnit} since ${options.since.toISOString()}`,
    });
  } else {
    files.push({ path: 'logs/journald.log', text: redactor.text(journal.stdout) });
    notes.push({
      source: 'journald',
      status: 'collected',
      detail: `logs/journald.log (unit ${options.journalUnit})`,
    });
  }
  return { files, notes };
}

async function collectLicense(options: CollectOptions): Promise<{ value?: unknown; notes: SourceNote[] }> {
  const value: Record<string, unknown> = {};
  const notes: SourceNote[] = [];
  if (options.licenseKeys === undefined) {
    notes.push({
      source: 'license keys',
      status: 'skipped',
      detail: 'no API token (TENANTRY_TOKEN or --token)',
    });
  } else {
    try {
      const list = await options.licenseKeys();
      const keys = isRecord(list) && Array.isArray(list.data) ? list.data.filter(isRecord) : [];
      // Not "license_keys": a name with "key" in it reads as a secret to the redactor.
      value.license_signers = keys.map((k) => ({
        kid: k.kid,
        status: k.status,
        created_at: k.created_at,
        retired_at: k.retired_at,
      }));
      notes.push({
        source: 'license keys',
        status: 'collected',
        detail: `license.json: ${keys.length} key(s)`,
      });
    } catch (error) {
      notes.push({ source: 'license keys', status: 'unavailable', detail: errorText(error) });
    }
  }
  if (options.license === undefined) {
    notes.push({ source: 'license file', status: 'skipped', detail: 'no --license FILE --keys FILE given' });
  } else {
    value.license_file = await verifyLicenseFile(options.license, options.now);
    notes.push({
      source: 'license file',
      status: 'collected',
      detail: `license.json: ${options.license.file}`,
    });
  }
  return Object.keys(value).length > 0 ? { value, notes } : { notes };
}

/** A self-hosted install's license, verified offline as the SDK does; the token itself stays out. */
async function verifyLicenseFile(license: { file: string; keys: string }, now: Date): Promise<unknown> {
  try {
    const token = (await readFile(license.file, 'utf8')).trim();
    const jwks: unknown = JSON.parse(await readFile(license.keys, 'utf8'));
    if (!isRecord(jwks) || !Array.isArray(jwks.keys))
      return { file: license.file, error: `${license.keys} is not a JSON Web Key Set` };
    const keyring = licenseKeyring(jwks.keys.filter(isRecord));
    if (!keyring.ok) return { file: license.file, error: keyring.error.message };
    const result = await verifyLicense(token, keyring.value, { now });
    if (!result.ok)
      return { file: license.file, valid: false, code: result.error.code, reason: result.error.message };
    const { claims, status, days_left: daysLeft, kid } = result.value;
    return {
      file: license.file,
      valid: true,
      status,
      days_left: daysLeft,
      kid,
      license_id: claims.jti,
      customer: claims.customer,
      edition: claims.edition,
      plan: claims.plan,
      seq: claims.seq,
      seats: claims.seats,
      entitlements: claims.entitlements,
      expires_at: new Date(claims.exp * 1000).toISOString(),
    };
  } catch (error) {
    return { file: license.file, error: errorText(error) };
  }
}

function journalUnavailable(error: ExecFileException): string {
  return error.code === 'ENOENT'
    ? 'journalctl is not on this machine'
    : `journalctl failed: ${error.message.split('\n')[0]}`;
}

/** A file system error as its code (`ENOENT`, `EACCES`): the path is said beside it. */
function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : errorText(error);
}

function errorText(error: unknown): string {
  // A refused connection to a name with two addresses is an AggregateError with no message, only a code.
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (error instanceof Error && error.message !== '') return error.message;
  return typeof code === 'string' ? code : String(error);
}
