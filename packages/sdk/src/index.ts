/**
 * The Tenantry SDK, embedded in the vendor's application: the tenant of each request from a
 * signed access token, tenant-scoped data in every placement, entitlements checked locally,
 * usage recorded without loss, and the app's migrations across the fleet.
 *
 * @packageDocumentation
 */

export {
  currentTenant,
  NoTenantContextError,
  runAsTenant,
  type TenantContext,
  tenantOrUndefined,
} from './context/tenant-context.ts';
export {
  ControlPlaneClient,
  ControlPlaneError,
  type ControlPlaneOptions,
  type ControlPlaneResponse,
  ControlPlaneUnreachableError,
  type RequestOptions,
} from './control-plane/control-plane-client.ts';
