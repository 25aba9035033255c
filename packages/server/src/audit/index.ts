/** The audit log's surface for the change recorder: features record changes through `changes/`. */
export { type AuditWrite, appendAuditEntries } from './audit-log.ts';
