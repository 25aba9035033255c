/**
 * Data planes: the registered PostgreSQL targets that hold tenants' data (the vendor's servers,
 * BYOI customers' own databases), how the control plane reaches them (guarded by a circuit
 * breaker and a bulkhead each), how their connections are validated and sealed, and their health.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, jobs/, secrets/, tenant-secrets/, shared modules.
 */
export {
  type ConnectionDetails,
  type ConnectionInput,
  type ConnectionTimeouts,
  clientConfig,
  DEFAULT_TIMEOUTS,
  type PublicConnection,
  parseConnection,
  SSL_MODES,
  type SslMode,
} from './connection.ts';
export { sealVendorConnection } from './connection-seal.ts';
export {
  ControlPlaneServer,
  type DataPlaneConnector,
  type DataPlaneDb,
  DataPlaneUnavailableError,
  DEFAULT_DATA_PLANE,
  kyselyIn,
} from './data-plane-connector.ts';
export { dataPlaneRoutes } from './data-plane-routes.ts';
export {
  createTenantDataPlane,
  customerPlaneName,
  type DataPlaneHealth,
  DataPlaneService,
  type DataPlaneView,
  problemOf,
  type RevealedConnection,
} from './data-plane-service.ts';
export { DataPlaneHealthChecker, type HealthRound, type HealthSettings, type HealthTurn } from './health.ts';
export {
  type ConnectionProblem,
  type ConnectionProblemCode,
  type Inspection,
  type InspectionNeeds,
  inspectConnection,
} from './inspect.ts';
export { type DataPlaneGuard, isOutage, RegisteredDataPlanes } from './registered-data-planes.ts';
