import { type ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';
import { byoiConfig } from '../data/byoi-connection.ts';
import type { DataConnection } from '../data/index.ts';
import { listTenantTargets, type MIGRATED_STATES } from './list-fleet-targets.ts';
import { clientSession, type FleetSession } from './migrate-fleet.ts';
import type { MigrationTarget } from './migrate-target.ts';

/**
 * The `byoi` and `byoi_agent` tenants in one of {@link MIGRATED_STATES}, as the control plane
 * lists them, `byoi` first. A `byoi` tenant is migrated as the server's provisioning migrates it
 * (byoi-driver's app_migrations step): a one-tenant database, its app schema, as the role of its
 * connection (the schema's owner), so both keep one migrations table there. A `byoi_agent` one is
 * listed too: only its agent reaches its database, so the coordinator migrates it through the
 * agent's `migrate` job, in its app schema (`schema`); it has no database the coordinator names.
 */
export function listByoiTargets(client: ControlPlaneClient): Promise<MigrationTarget[]> {
  return listTenantTargets(client, ['byoi', 'byoi_agent']);
}

/**
 * A session on a `byoi` tenant's own database, with the connection the control plane decrypts for
 * it (`GET /v1/tenants/{id}/data-connection/credentials`, scope `data-planes:connect`, each read
 * audited in the tenant's chain), TLS as its `sslmode` says. The password is used to connect and
 * nothing else: it is cut out of any error, so a report or log never shows it.
 */
export async function openByoi(client: ControlPlaneClient, target: MigrationTarget): Promise<FleetSession> {
  if (target.placement !== 'byoi' || target.tenantId === null)
    throw new Error(`a ${target.placement} target is not reached through a BYOI data connection`);
  let connection: DataConnection;
  try {
    ({ body: connection } = await client.get('/v1/tenants/{id}/data-connection/credentials', {
      path: { id: target.tenantId },
    }));
  } catch (error) {
    if (error instanceof ControlPlaneError && error.status === 403)
      throw new Error(
        "the control plane refused to hand over the tenant's data connection: migrating BYOI tenants needs a token with the data-planes:connect scope (or leave them out: --no-byoi, in the SDK byoi: false)",
      );
    throw error;
  }
  try {
    return await clientSession(byoiConfig(connection));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      connection.password === '' ? message : message.replaceAll(connection.password, '[redacted]'),
    );
  }
}
