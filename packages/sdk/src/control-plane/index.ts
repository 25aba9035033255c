/**
 * The HTTP client the SDK uses to talk to the control plane.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core.
 */
export {
  ControlPlaneClient,
  ControlPlaneError,
  type ControlPlaneOptions,
  type ControlPlaneResponse,
  ControlPlaneUnreachableError,
  type RequestOptions,
} from './control-plane-client.ts';
