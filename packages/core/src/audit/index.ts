/**
 * The audit log's pure half: how an entry is hashed into its chain, what a signed checkpoint
 * claims, and the streaming verifier the CLI runs outside the database.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: shared modules.
 */
export {
  AUDIT_CHECKPOINT_TYPE,
  AUDIT_HASH_VERSION,
  type AuditActor,
  type AuditCheckpointClaims,
  type AuditCheckpointView,
  type AuditEntryView,
  auditEntryHash,
  auditEntryPreimage,
  auditPreimageParts,
  isAuditCheckpointClaims,
  OPERATOR_CHAIN,
  type Sha256Hex,
} from './audit-entry.ts';
export {
  type AuditChainReport,
  AuditChainVerifier,
  type AuditProblem,
  type AuditProblemKind,
  type AuditVerification,
  type DistrustedCheckpoint,
  verifyAuditChains,
} from './verify-audit-chains.ts';
