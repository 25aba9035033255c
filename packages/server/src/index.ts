export { generateSecret, secretFormat } from './api-keys/index.ts';
export { type Clock, systemClock } from './clock.ts';
export { type Config, loadConfig } from './config.ts';
export {
  type Database,
  type DatabaseTarget,
  type MigrationStatus,
  migrateToLatest,
  migrationStatus,
  openDatabase,
  SchemaTooNewError,
} from './db/index.ts';
export { type AppOptions, buildApp } from './http/app.ts';
export type { Actor, RequestContext } from './request-context.ts';
export { MASTER_KEY_BYTES, SecretBox } from './secrets/index.ts';
export { migrateDatabase, type RunningServer, startServer } from './server.ts';
export { createServices, type ServiceSettings, type Services } from './services.ts';
