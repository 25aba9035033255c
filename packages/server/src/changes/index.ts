/**
 * The change recorder: the one way features record what they change. Each change is written,
 * in the caller's transaction, as its audit entry, the events its action raises (the webhook
 * outbox) and the announcement that drops other processes' cached entitlements; see
 * {@link recordChanges}. Features import from here only, never from the files behind it (a test
 * checks), and never write audit entries, events or announcements themselves.
 */

export { markEventsPublished } from './outbox.ts';
export {
  announceUsage,
  type Change,
  type ChangeOf,
  recordChange,
  recordChanges,
} from './recorder.ts';
export { followTenantChanges } from './tenant-changes.ts';
