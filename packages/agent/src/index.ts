/**
 * The outbound agent: runs in the customer's environment, dials out to the control plane over
 * WebSocket (no inbound port), and runs the jobs it is sent on the customer's database, sending
 * back only what each job declares as its output (docs/agent.md).
 *
 * @packageDocumentation
 */
export {
  AGENT_VERSION,
  Agent,
  type AgentLogger,
  type AgentOptions,
  AgentStoppedError,
  backoffDelay,
  connectUrl,
  redactUrl,
} from './agent.ts';
export {
  besideCredential,
  checkDataset,
  type DatasetContext,
  type DatasetDefinition,
  type DatasetRefusal,
  DatasetSwitchFile,
  DEFAULT_DATASET_EVERY_MS,
  defineDataset,
  fieldNames,
  type SentEntry,
  SentLog,
} from './datasets.ts';
export {
  BUILT_IN_JOB_TYPES,
  checkOutput,
  defineJobType,
  healthCheckJob,
  type JobContext,
  JobFailure,
  type JobOutcome,
  type JobTypeDefinition,
  migrateJob,
  noopJob,
  provisionJob,
  runJob,
  undeclaredPaths,
} from './job-types.ts';
export { StateStore, type StoredCredential } from './state-store.ts';
