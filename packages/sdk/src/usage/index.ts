/**
 * Usage recording: batching, spooling to disk and sending usage events to the control plane.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, context/, control-plane/.
 */
export {
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type SendUsageBatchOptions,
  sendUsageBatch,
  type UsageBatchOutcome,
  type UsageBatchResult,
} from './send-usage-batch.ts';
export {
  InvalidUsageRecordError,
  type UsageEvent,
  type UsageRecord,
  unitRecords,
  usageEventLine,
} from './usage-record.ts';
export {
  type RejectedUsageEvent,
  type Timers,
  UsageRecorder,
  UsageRecorderClosedError,
  type UsageRecorderOptions,
  type UsageRecorderStats,
} from './usage-recorder.ts';
export { CorruptSpoolFileError } from './usage-spool.ts';
