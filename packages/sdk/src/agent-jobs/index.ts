/**
 * Jobs the app sends a tenant's agent: how it serves a `byoi_agent` tenant, whose data only the
 * agent in the customer's environment reaches.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: control-plane/.
 */
export { type AgentJob, type AgentJobOptions, runAgentJob } from './run-agent-job.ts';
