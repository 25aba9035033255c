/**
 * Data planes: the registered PostgreSQL targets that hold tenants' data, and how the control
 * plane reaches them.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, secrets/, shared modules.
 */
export {
  ControlPlaneServer,
  type DataPlaneConnector,
  type DataPlaneDb,
  DataPlaneUnavailableError,
  DEFAULT_DATA_PLANE,
  kyselyIn,
} from './data-plane-connector.ts';
