export type { Actor, RequestContext } from './audit/audit-log.ts';
export { type Clock, systemClock } from './clock.ts';
export { type Config, loadConfig } from './config.ts';
export { type Database, type DatabaseTarget, openDatabase } from './db/database.ts';
export { type MigrationStatus, migrateToLatest, migrationStatus, SchemaTooNewError } from './db/migrate.ts';
export { type AppOptions, buildApp } from './http/app.ts';
export { MASTER_KEY_BYTES, SecretBox } from './secrets/secret-box.ts';
export { migrateDatabase, type RunningServer, startServer } from './server.ts';
export { createServices, type ServiceSettings, type Services } from './services.ts';
