/**
 * The control plane's database: connection (PostgreSQL or PGlite), schema types, migrations and retries.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: nothing of its package.
 */
export { CONTROL_SCHEMA, type Database, type DatabaseTarget, openDatabase } from './database.ts';
export { type MigrationStatus, migrateToLatest, migrationStatus, SchemaTooNewError } from './migrate.ts';
export type {
  AgentDatasetSnapshotsTable,
  AgentDatasetSwitchesTable,
  AgentEnrolmentsTable,
  AgentJobsTable,
  AgentsTable,
  ApiKeysTable,
  AuditCheckpointsTable,
  AuditEventsTable,
  DataPlanesTable,
  DunningCasesTable,
  InstallPublicJwk,
  InvoiceLinesTable,
  InvoicesTable,
  JobRow,
  LicenseCheckInsTable,
  LicenseKeysTable,
  LicenseRevocationSeqTable,
  LicensesTable,
  MigrationRunsTable,
  MigrationRunTargetsTable,
  OidcClientsTable,
  OidcPayloadsTable,
  PaymentMethodsTable,
  PlansTable,
  ScheduledPlanChange,
  Schema,
  SigningKeysTable,
  SlotHoldersTable,
  SupportBundlesTable,
  TenantApiKeysTable,
  TenantRolesTable,
  TenantRow,
  TenantSecretsTable,
  TestClocksTable,
  UsageEventsTable,
  UsageLeasesTable,
  UsageReportsTable,
  WebhookAttempt,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
  WebhookSecret,
} from './schema.ts';
export { isDatabaseUnreachable } from './unreachable.ts';
export { withRetry } from './with-retry.ts';
