/**
 * The background job queue, the loop that wakes workers, and the lease that has one process at a
 * time run a periodic piece of work.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: db/, shared modules.
 */
export { JobQueue } from './job-queue.ts';
export { type LeasedRun, PeriodicLease, type PeriodicLeaseSettings } from './periodic-lease.ts';
export { WakeLoop } from './wake-loop.ts';
