/**
 * The audit log: a hash chain per tenant and one for the operator, signed checkpoints, retention,
 * and the reads of the API. Features write to it through the change recorder (`changes/`), which
 * calls {@link appendAuditEntries} in the mutation's own transaction.
 */
export { type AuditWrite, appendAuditEntries } from './audit-chain.ts';
export { auditRoutes } from './audit-routes.ts';
export { AuditService } from './audit-service.ts';
