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
  return [poolTarget(options.poolSchema), ...(await listTenantTargets(client, ['schema', 'database']))];
}

/** The tenants placed as `placements` say, in one of {@link MIGRATED_STATES}, as targets, in that order. */
export async function listTenantTargets(
  client: ControlPlaneClient,
  placements: readonly Exclude<Schemas['Tenant']['placement'], 'pool'>[],
): Promise<MigrationTarget[]> {
  const targets: MigrationTarget[] = [];
  for (const placement of placements) {
    for await (const tenant of listTenants(client, placement)) {
      if (MIGRATED_STATES.includes(tenant.state)) targets.push(tenantTarget(tenant, placement));
    }
  }
  return targets;
}

/** Where a tenant's app tables are, from the resources the control plane lists it with. */
function tenantTarget(tenant: Schemas['Tenant'], placement: Schemas['Tenant']['placement']): MigrationTarget {
  const r = tenant.resources;
  if (r.placement !== placement)
    throw new Error(`the control plane lists ${placement} tenant ${tenant.id} with ${r.placement} resources`);
  const base = { tenantId: tenant.id, slug: tenant.slug };
  switch (r.placement) {
    case 'schema':
      return { ...base, placement: 'schema', schema: r.schema, role: r.role, database: null };
    case 'database':
      // A tenant database keeps the app's tables in its `public` schema, which its owner (the
      // tenant's role, through pg_database_owner) owns.
      return { ...base, placement: 'database', schema: 'public', role: r.role, database: r.database };
    case 'byoi':
      // Migrated as the role of its connection (the schema's owner), as its provisioning does.
      return { ...base, placement: 'byoi', schema: r.schema, role: null, database: r.database };
    case 'byoi_agent':
      // Only its agent reaches its database, which the coordinator does not name.
      return { ...base, placement: 'byoi_agent', schema: r.schema, role: null, database: null };
    case 'pool':
      throw new Error(`pool tenant ${tenant.id} has no target of its own: the pool schema is one`);
  }
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
