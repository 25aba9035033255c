import type { Schemas } from '@tenantry/core/api';
import type { ControlPlaneClient } from '../control-plane/index.ts';
import type { MigrationTarget } from './migrate-target.ts';

/**
 * The tenant states whose schema or database exists and is kept: a tenant still `provisioning`
 * gets the migrations from its provisioning job (TENANTRY_APP_MIGRATIONS), one whose provisioning
 * failed may have nothing to migrate, and a deleted one is waiting to be purged.
 */
export const MIGRATED_STATES: readonly string[] = [
  'trialing',
  'active',
  'past_due',
  'suspended',
  'cancelled',
];

const PAGE_SIZE = 100;

/** The pool schema as a target: the app's shared tables, holding every pool tenant's rows. */
export function poolTarget(poolSchema = 'public'): MigrationTarget {
  return { placement: 'pool', tenantId: null, slug: null, schema: poolSchema, role: null, database: null };
}

/**
 * Every target of a fleet migration, in the order they are migrated: the pool schema first, then
 * each `schema` tenant and each `database` tenant in one of {@link MIGRATED_STATES}, as the
 * control plane lists them.
 */
export async function listFleetTargets(
  client: ControlPlaneClient,
  options: { readonly poolSchema?: string } = {},
): Promise<MigrationTarget[]> {
  const targets: MigrationTarget[] = [poolTarget(options.poolSchema)];
  for (const placement of ['schema', 'database'] as const) {
    for await (const tenant of listTenants(client, placement)) {
      if (!MIGRATED_STATES.includes(tenant.state)) continue;
      const r = tenant.resources;
      if (r.placement !== placement)
        throw new Error(
          `the control plane lists ${placement} tenant ${tenant.id} with ${r.placement} resources`,
        );
      targets.push({
        placement,
        tenantId: tenant.id,
        slug: tenant.slug,
        // A tenant database keeps the app's tables in its `public` schema, which its owner (the
        // tenant's role, through pg_database_owner) owns.
        schema: r.placement === 'schema' ? r.schema : 'public',
        role: r.role,
        database: r.placement === 'database' ? r.database : null,
      });
    }
  }
  return targets;
}

/** Every tenant the control plane lists with `placement`, page by page. */
export async function* listTenants(
  client: ControlPlaneClient,
  placement: Schemas['Tenant']['placement'],
): AsyncGenerator<Schemas['Tenant']> {
  let cursor: string | undefined;
  const seen = new Set<string>();
  do {
    const page = await client.get('/v1/tenants', { query: { placement, limit: PAGE_SIZE, cursor } });
    yield* page.body.data;
    // A cursor seen twice would loop for ever; stop rather than trust a misbehaving server.
    if (cursor !== undefined) seen.add(cursor);
    cursor = page.body.next_cursor ?? undefined;
  } while (cursor !== undefined && !seen.has(cursor));
}
