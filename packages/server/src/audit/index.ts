/**
 * The audit log: a hash chain per tenant and one for the operator, signed checkpoints, retention,
 * and the reads of the API. Features write to it through the change recorder (`changes/`), which
 * calls {@link appendAuditEntries} in the mutation's own transaction.
 */
export {
  type AuditWrite,
  appendAuditEntries,
  chainOf,
  entryView,
  sha256Hex,
} from './audit-chain.ts';
export { AuditCheckpoints, checkpointView } from './audit-checkpoints.ts';
export { AUDIT_RETENTION_CONFIG, type AuditPruning, AuditRetention } from './audit-retention.ts';
export { auditRoutes } from './audit-routes.ts';
export {
  type AuditFilter,
  type AuditOrder,
  type AuditPrincipal,
  type AuditReader,
  type AuditScope,
  AuditService,
  type AuditServiceOptions,
  mayReadAudit,
} from './audit-service.ts';
