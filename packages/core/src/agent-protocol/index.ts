/**
 * The agent protocol: the frames an outbound agent and the control plane exchange over one
 * WebSocket, versioned, as one contract both sides parse with (docs/agent.md).
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: nothing of its package.
 */
export {
  Ack,
  AGENT_PROTOCOL_VERSION,
  AgentFrame,
  CLOSE_CODES,
  CredentialRotation,
  DatasetName,
  DatasetPush,
  DatasetSwitches,
  Heartbeat,
  Hello,
  JOB_REFUSAL_REASONS,
  JobOffer,
  JobProgress,
  JobRefusal,
  type JobRefusalReason,
  JobResult,
  JobType,
  MAX_DATASET_BYTES,
  MAX_DATASET_PART_BYTES,
  MAX_DATASET_PARTS,
  MAX_FRAME_BYTES,
  Metadata,
  type ParsedFrame,
  parseAgentFrame,
  parseServerFrame,
  REFUSAL_CODES,
  type RefusalCode,
  Refused,
  Rejected,
  RotationRequest,
  ServerFrame,
  Welcome,
} from './messages.ts';
