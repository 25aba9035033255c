import { randomBytes } from 'node:crypto';
import { followTenantChanges } from './changes/index.ts';
import { systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { migrateToLatest, openDatabase } from './db/index.ts';
import { buildApp } from './http/app.ts';
import { purgeExpiredIdempotencyKeys } from './http/index.ts';
import { sweepExpired } from './oidc/index.ts';
import { grantAppRoleToTenants } from './placements/index.ts';
import { type RequestContext, systemContext } from './request-context.ts';
import { MASTER_KEY_BYTES, masterKeyFromFile, SecretBox } from './secrets/index.ts';
import { createServices } from './services.ts';

/** A control plane that is listening. */
export interface RunningServer {
  /** The base URL it answers on. */
  readonly url: string;
  /** Stops taking requests, finishes the ones under way, stops the worker and closes the database. */
  close(): Promise<void>;
}

const BOOTSTRAP: RequestContext = systemContext('bootstrap');
const HOUSEKEEPING_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Starts the control plane: opens the database, applies pending migrations (refusing a schema
 * newer than this build), makes sure an operator key exists, starts the job worker and listens.
 * Start-up lines go to `print` (stdout by default), apart from the JSON logs.
 */
export async function startServer(
  config: Config,
  print: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<RunningServer> {
  const database = await openDatabase(config.database);
  // What has been started so far, stopped in reverse if start-up fails half-way (a port in use
  // must not leave a worker polling a closed database).
  const stops: Array<() => Promise<void> | void> = [() => database.close()];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    const applied = await migrateToLatest(database.db);
    for (const name of applied) print(`applied migration ${name}`);
    const services = createServices(
      database,
      { ...config, secrets: await secretBox(config, print) },
      systemClock,
    );
    // Other control-plane processes change tenants too: drop their cached entitlements here.
    stops.push(await followTenantChanges(database, (tenantId) => services.entitlements.invalidate(tenantId)));

    // Seals signing keys (and license keys, webhook secrets and tenants' data keys) still in clear or under an older
    // master key, and refuses a master key that opens none of them, now rather than at first use.
    await services.signingKeys.ensureKeys();
    await services.licenses.resealKeys();
    await services.webhooks.resealSecrets();
    await services.tenantSecrets.resealDataKeys();
    // Tenants provisioned before TENANTRY_APP_ROLE was set would stay out of the app's reach.
    const granted = await grantAppRoleToTenants(database.db, services.dataPlaneConnector, config.appRole);
    if (granted.length > 0)
      print(
        `gave the app role ${config.appRole} (TENANTRY_APP_ROLE) its access to ${granted.length} existing tenants`,
      );

    const first = await services.apiKeys.ensureFirstKey(BOOTSTRAP, config.bootstrapToken);
    if (first.created && first.generatedSecret) {
      print(`created the first operator API key (${first.key.id}); it is shown once, keep it:`);
      print(`  TENANTRY_TOKEN=${first.generatedSecret}`);
      print('  give each app instance an app key instead: tenantry keys create --name <app> --preset app');
    } else if (first.created) {
      print(`TENANTRY_BOOTSTRAP_TOKEN is now the first operator API key (${first.key.id})`);
    } else if (first.revokedBootstrapToken) {
      print(
        'TENANTRY_BOOTSTRAP_TOKEN was revoked and stays revoked, and no other key is active: ' +
          'unset it and restart to have a new key generated',
      );
    }

    const app = await buildApp(services, {
      logger: { level: config.logLevel, redact: ['req.headers.authorization'] },
    });
    stops.push(() => app.close());
    // Trials end by a job that reschedules itself; this starts it the first time (and again if it
    // ever gave up), and does nothing while one is pending.
    await services.trials.schedule();
    // Invoices are finalized by a job that reschedules itself at the next period end.
    await services.invoices.ensureScheduled();
    // The audit log's checkpoints and retention run by jobs that reschedule themselves.
    await services.audit.schedule();
    const stopWorker = new AbortController();
    const worker = services.jobs.work(stopWorker.signal, config.workerPollMs, (error) =>
      app.log.error({ err: error }, 'job worker failed'),
    );
    const checker = services.usage.thresholds.work(stopWorker.signal, config.workerPollMs, (error) =>
      app.log.error({ err: error }, 'threshold checker failed'),
    );
    const deliverer = services.webhooks.work(stopWorker.signal, config.workerPollMs, (error) =>
      app.log.error({ err: error }, 'webhook delivery failed'),
    );
    // Which registered data planes are vendor servers (hasDatabases), known before the first call.
    await services.dataPlaneConnector.refresh();
    // Every data plane with connection details is checked each interval, by one of the
    // control-plane processes in turn (docs/data-planes.md).
    const health = services.dataPlaneHealth.work(stopWorker.signal, (error) =>
      app.log.error({ err: error }, 'data plane health check failed'),
    );
    // A job queued or an agent revoked by another process reaches the agent's connection here
    // within moments, not at its next heartbeat.
    const unlistenAgents = await services.agents.listen(database);
    stops.push(async () => {
      stopWorker.abort();
      await Promise.all([worker, checker, deliverer, health, unlistenAgents()]);
    });
    // Hourly housekeeping. Stored idempotent responses are kept for a day; expired ones are
    // ignored, this removes them.
    const purge = setInterval(() => {
      purgeExpiredIdempotencyKeys(database.db).catch((error: unknown) =>
        app.log.error({ err: error }, 'purging expired idempotency keys failed'),
      );
      // The OpenID provider's expired codes, sessions and tokens: ignored once expired, removed here.
      sweepExpired(database.db).catch((error: unknown) =>
        app.log.error({ err: error }, 'sweeping expired OpenID provider objects failed'),
      );
      // Finished jobs past their retention: the queue's table would otherwise keep every job.
      services.jobs
        .purgeFinished()
        .catch((error: unknown) => app.log.error({ err: error }, 'purging finished jobs failed'));
    }, HOUSEKEEPING_INTERVAL_MS);
    purge.unref();
    stops.push(() => clearInterval(purge));
    const address = await app.listen({ host: config.host, port: config.port });
    const url = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
    const where = 'url' in config.database ? 'PostgreSQL' : `embedded PGlite in ${config.database.dataDir}`;
    print(`Tenantry control plane listening on ${url} (database: ${where})`);
    return { url, close: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The box that seals secrets: `TENANTRY_MASTER_KEY`'s keys, or else the key kept in the data
 * directory (generated on first start). The second is fine for one process on its own machine;
 * processes sharing a database must share the key, which the file cannot do for them.
 */
async function secretBox(config: Config, print: (line: string) => void): Promise<SecretBox> {
  if (config.masterKeys !== undefined) return new SecretBox(config.masterKeys);
  // An embedded database in memory outlives nothing, and neither need its secrets' key.
  if (config.dataDir.startsWith('memory://')) return new SecretBox([randomBytes(MASTER_KEY_BYTES)]);
  const file = await masterKeyFromFile(config.dataDir);
  if (file.created)
    print(`generated a master key in ${file.path}: secrets at rest are sealed with it, keep it safe`);
  if ('url' in config.database)
    print(
      `TENANTRY_MASTER_KEY is not set: secrets are sealed with the key in ${file.path}; ` +
        'set TENANTRY_MASTER_KEY to that key on every control-plane process that shares this database',
    );
  return new SecretBox([file.key]);
}

/** Applies pending migrations and returns their names; refuses a schema newer than this build. */
export async function migrateDatabase(config: Pick<Config, 'database'>): Promise<string[]> {
  const database = await openDatabase(config.database);
  try {
    return await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
}
