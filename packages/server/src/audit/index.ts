/** The audit log's surface for the change recorder: features record changes through `changes/`. */
export {
  type Actor,
  type AuditWrite,
  appendAuditEntries,
  type RequestContext,
  systemContext,
} from './audit-log.ts';
