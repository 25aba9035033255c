/**
 * The registries of audit actions and event types, the redaction of secrets from change records and the tenant-transition record.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: shared modules, tenants/.
 */
export {
  type AlsoOf,
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditActionSpec,
  type DefaultEventOf,
  isAuditAction,
  type RaisesOf,
  TARGET_TYPES,
  type TargetOf,
  type TargetType,
} from './audit-actions.ts';
export {
  EVENT_TYPES,
  type EventData,
  type EventType,
  type EventTypeSpec,
  isEventType,
  type RaisedEvent,
} from './event-types.ts';
export { changedFields, redact, SECRET_FIELDS } from './redaction.ts';
export {
  type TenantTransitionAction,
  type TransitionRecord,
  transitionRecord,
} from './tenant-transitions.ts';
