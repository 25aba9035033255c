/**
 * Provisioning: the durable workflow that runs each tenant's placement driver step by step.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, db/, jobs/, placements/, shared modules.
 */
export {
  PROVISION_JOB,
  type ProvisioningListener,
  type ProvisioningView,
  ProvisioningWorkflow,
  type RunState,
  STEP_ATTEMPTS,
} from './provisioning-workflow.ts';
