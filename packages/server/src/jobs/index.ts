/**
 * The background job queue and the loop that wakes workers.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: db/, shared modules.
 */
export { JobQueue } from './job-queue.ts';
export { WakeLoop } from './wake-loop.ts';
