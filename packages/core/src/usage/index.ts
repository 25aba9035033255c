/**
 * The usage event as sent by the SDK and received by the server, and its validation bounds.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: nothing of its package.
 */
export {
  CloudUsageEvent,
  fromCloudEvent,
  hourOf,
  MAX_CLOCK_SKEW_MS,
  MAX_USAGE_BATCH,
  type RejectedEvent,
  timeOutOfRange,
  UsageEventInput,
} from './usage-event.ts';
