import { type RequestContext, systemContext } from './audit/audit-log.ts';
import { followTenantChanges } from './changes/tenant-changes.ts';
import { systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { buildApp } from './http/app.ts';
import { purgeExpiredIdempotencyKeys } from './http/idempotency.ts';
import { createServices } from './services.ts';

/** A control plane that is listening. */
export interface RunningServer {
  /** The base URL it answers on. */
  readonly url: string;
  /** Stops taking requests, finishes the ones under way, stops the worker and closes the database. */
  close(): Promise<void>;
}

const BOOTSTRAP: RequestContext = systemContext('bootstrap');
const IDEMPOTENCY_PURGE_INTERVAL_MS = 60 * 60 * 1000;

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
    const services = createServices(database, config, systemClock);
    // Other control-plane processes change tenants too: drop their cached entitlements here.
    stops.push(await followTenantChanges(database, (tenantId) => services.entitlements.invalidate(tenantId)));

    const first = await services.apiKeys.ensureFirstKey(BOOTSTRAP, config.bootstrapToken);
    if (first.created && first.generatedSecret) {
      print(`created the first operator API key (${first.key.id}); it is shown once, keep it:`);
      print(`  TENANTRY_TOKEN=${first.generatedSecret}`);
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
    const stopWorker = new AbortController();
    const worker = services.jobs.work(stopWorker.signal, config.workerPollMs, (error) =>
      app.log.error({ err: error }, 'job worker failed'),
    );
    const checker = services.usage.thresholds.work(stopWorker.signal, config.workerPollMs, (error) =>
      app.log.error({ err: error }, 'threshold checker failed'),
    );
    stops.push(async () => {
      stopWorker.abort();
      await Promise.all([worker, checker]);
    });
    // Stored idempotent responses are kept for a day; expired ones are ignored, this removes them.
    const purge = setInterval(() => {
      purgeExpiredIdempotencyKeys(database.db).catch((error: unknown) =>
        app.log.error({ err: error }, 'purging expired idempotency keys failed'),
      );
    }, IDEMPOTENCY_PURGE_INTERVAL_MS);
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

/** Applies pending migrations and returns their names; refuses a schema newer than this build. */
export async function migrateDatabase(config: Pick<Config, 'database'>): Promise<string[]> {
  const database = await openDatabase(config.database);
  try {
    return await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
}
