/**
 * Agents: enrolment, credentials and jobs of the outbound agents that act on customers' databases
 * for the control plane (byoi_agent placements), and their WebSocket endpoint.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, secrets/, tenant-secrets/, shared modules.
 */
export { AGENT_CONNECT_PATH, attachAgentGateway, type GatewayLog } from './agent-gateway.ts';
export { agentRoutes } from './agent-routes.ts';
export {
  type AgentJobView,
  AgentService,
  type AgentView,
  type EnrolmentListener,
  type JobListener,
} from './agent-service.ts';
export { datasetRoutes } from './dataset-routes.ts';
export { DatasetService, type DatasetSnapshotView, type DatasetView } from './dataset-service.ts';
