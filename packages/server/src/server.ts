import { type RequestContext, systemContext } from './audit/audit-log.ts';
import { systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { buildApp } from './http/app.ts';
import { createServices } from './services.ts';

/** A control plane that is listening. */
export interface RunningServer {
  /** The base URL it answers on. */
  readonly url: string;
  /** Stops taking requests, finishes the ones under way, stops the worker and closes the database. */
  close(): Promise<void>;
}

const BOOTSTRAP: RequestContext = systemContext('bootstrap');

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
  try {
    const applied = await migrateToLatest(database.db);
    for (const name of applied) print(`applied migration ${name}`);
    const services = createServices(database, config, systemClock);

    const first = await services.apiKeys.ensureFirstKey(BOOTSTRAP, config.bootstrapToken);
    if (first.created && first.generatedSecret) {
      print(`created the first operator API key (${first.key.id}); it is shown once, keep it:`);
      print(`  TENANTRY_TOKEN=${first.generatedSecret}`);
    } else if (first.created) {
      print(`TENANTRY_BOOTSTRAP_TOKEN is now the first operator API key (${first.key.id})`);
    }

    const app = await buildApp(services, {
      logger: { level: config.logLevel, redact: ['req.headers.authorization'] },
    });
    const stopWorker = new AbortController();
    const worker = services.jobs.work(stopWorker.signal, config.workerPollMs, (error) =>
      app.log.error({ err: error }, 'job worker failed'),
    );
    const address = await app.listen({ host: config.host, port: config.port });
    const url = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
    const where = 'url' in config.database ? 'PostgreSQL' : `embedded PGlite in ${config.database.dataDir}`;
    print(`Tenantry control plane listening on ${url} (database: ${where})`);
    return {
      url,
      close: async () => {
        await app.close();
        stopWorker.abort();
        await worker;
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
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
