/**
 * The Tenantry SDK, embedded in the vendor's application: the tenant of each request from a
 * signed access token, tenant-scoped data in every placement, entitlements checked locally,
 * usage recorded without loss, and the app's migrations across the fleet.
 *
 * @packageDocumentation
 */

export { MAX_USAGE_BATCH } from '@tenantry/core';
export {
  currentTenant,
  NoTenantContextError,
  runAsTenant,
  type TenantContext,
  tenantOrUndefined,
} from './context/tenant-context.ts';
export {
  ControlPlaneClient,
  ControlPlaneError,
  type ControlPlaneOptions,
  type ControlPlaneResponse,
  ControlPlaneUnreachableError,
  type RequestOptions,
} from './control-plane/control-plane-client.ts';
export {
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type SendUsageBatchOptions,
  sendUsageBatch,
  type UsageBatchOutcome,
  type UsageBatchResult,
} from './usage/send-usage-batch.ts';
export {
  InvalidUsageRecordError,
  type UsageEvent,
  type UsageRecord,
} from './usage/usage-record.ts';
export {
  type RejectedUsageEvent,
  type Timers,
  UsageRecorder,
  UsageRecorderClosedError,
  type UsageRecorderOptions,
  type UsageRecorderStats,
} from './usage/usage-recorder.ts';
export { CorruptSpoolFileError } from './usage/usage-spool.ts';
