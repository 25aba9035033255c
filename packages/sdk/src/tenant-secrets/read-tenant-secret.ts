import { type ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';

/**
 * The value of tenant `tenantId`'s secret `name`, decrypted by the control plane for the app's
 * key (it needs `secrets:decrypt`, which the app preset holds), or undefined when the tenant has
 * not set it. Every call asks the control plane, which records the read in the tenant's audit log
 * before it answers; nothing is cached here, so a rotation or deletion holds from the next call
 * and the value lives in the process only as long as the caller keeps it.
 *
 * @throws {ControlPlaneError} `tenant_secret_unreadable` when the stored value does not decrypt
 *   (altered, copied, or the tenant deleted), `insufficient_scope` without `secrets:decrypt`.
 */
export async function readTenantSecret(
  client: ControlPlaneClient,
  tenantId: string,
  name: string,
): Promise<string | undefined> {
  try {
    const { body } = await client.get('/v1/tenants/{id}/secrets/{name}/value', {
      path: { id: tenantId, name },
    });
    return body.value;
  } catch (error) {
    if (error instanceof ControlPlaneError && error.code === 'tenant_secret_not_found') return undefined;
    throw error;
  }
}
