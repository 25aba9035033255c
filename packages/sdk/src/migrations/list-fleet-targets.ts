import type { ControlPlaneClient } from '../control-plane/control-plane-client.ts';
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

/** A tenant as `GET /v1/tenants` lists it, as far as migrations care. */
interface ListedTenant {
  readonly id: string;
  readonly slug: string;
  readonly state: string;
  readonly placement: string;
  readonly resources: {
    readonly schema: string | null;
    readonly role: string | null;
    readonly database: string | null;
  };
}

const PAGE_SIZE = 100;

/**
 * Every target of a fleet migration, in the order they are migrated: the pool schema first, then
 * each `schema` tenant and each `database` tenant in one of {@link MIGRATED_STATES}, as the
 * control plane lists them.
 */
export async function listFleetTargets(
  client: ControlPlaneClient,
  options: { readonly poolSchema?: string } = {},
): Promise<MigrationTarget[]> {
  const targets: MigrationTarget[] = [
    {
      placement: 'pool',
      tenantId: null,
      slug: null,
      schema: options.poolSchema ?? 'public',
      role: null,
      database: null,
    },
  ];
  for (const placement of ['schema', 'database'] as const) {
    for await (const tenant of listTenants(client, placement)) {
      if (!MIGRATED_STATES.includes(tenant.state)) continue;
      const { schema, role, database } = tenant.resources;
      if (role === null || (placement === 'schema' ? schema === null : database === null)) {
        throw new Error(
          `the control plane lists ${placement} tenant ${tenant.id} without its ${role === null ? 'role' : placement}`,
        );
      }
      targets.push({
        placement,
        tenantId: tenant.id,
        slug: tenant.slug,
        // A tenant database keeps the app's tables in its `public` schema, which its owner (the
        // tenant's role, through pg_database_owner) owns.
        schema: placement === 'schema' ? (schema as string) : 'public',
        role,
        database: placement === 'database' ? database : null,
      });
    }
  }
  return targets;
}

async function* listTenants(client: ControlPlaneClient, placement: string): AsyncGenerator<ListedTenant> {
  let cursor: string | null = null;
  const seen = new Set<string>();
  do {
    const query = new URLSearchParams({ placement, limit: String(PAGE_SIZE) });
    if (cursor !== null) query.set('cursor', cursor);
    const page = await client.request<{ data: ListedTenant[]; next_cursor: string | null }>(
      'GET',
      `/v1/tenants?${query}`,
    );
    yield* page.body.data;
    // A cursor seen twice would loop for ever; stop rather than trust a misbehaving server.
    if (cursor !== null) seen.add(cursor);
    cursor = page.body.next_cursor;
  } while (cursor !== null && !seen.has(cursor));
}
