/**
 * Where a tenant's data lives. Each placement has one driver in the control plane
 * (`packages/server/src/placements`) and one set of resources, below; nothing else in any package
 * spells out a placement's shape.
 */
export const PLACEMENTS = ['pool', 'schema', 'database', 'byoi', 'byoi_agent'] as const;
export type Placement = (typeof PLACEMENTS)[number];

/** The placements on a data plane the vendor runs (its shared cluster or a dedicated server). */
export const VENDOR_PLACEMENTS = ['pool', 'schema', 'database'] as const satisfies readonly Placement[];
export type VendorPlacement = (typeof VENDOR_PLACEMENTS)[number];

/** The placements whose data lives in the customer's own database and account. */
export const CUSTOMER_PLACEMENTS = ['byoi', 'byoi_agent'] as const satisfies readonly Placement[];
export type CustomerPlacement = (typeof CUSTOMER_PLACEMENTS)[number];

export function isPlacement(value: unknown): value is Placement {
  return typeof value === 'string' && (PLACEMENTS as readonly string[]).includes(value);
}

export function isVendorPlacement(placement: Placement): placement is VendorPlacement {
  return (VENDOR_PLACEMENTS as readonly string[]).includes(placement);
}

/** The vendor's shared tables on a data plane; each row keyed and row-level-secured by `tenant_id`. */
export interface PoolResources {
  readonly placement: 'pool';
  /** The data plane holding the shared tables (`dpl_…`). */
  readonly data_plane: string;
}

/** A schema of the tenant's own on a vendor data plane, owned by a NOLOGIN role of its own. */
export interface SchemaResources {
  readonly placement: 'schema';
  readonly data_plane: string;
  readonly schema: string;
  readonly role: string;
}

/** A database of the tenant's own on a vendor data plane, owned by a NOLOGIN role of its own. */
export interface DatabaseResources {
  readonly placement: 'database';
  readonly data_plane: string;
  readonly database: string;
  readonly role: string;
}

/**
 * The customer's own database, reached directly with connection details the customer gave
 * (sealed at rest in the control plane); the app's tables live in `schema` there.
 */
export interface ByoiResources {
  readonly placement: 'byoi';
  /** The customer's data plane, which holds this tenant only. */
  readonly data_plane: string;
  /** The database the customer's connection details name; null until they are given. */
  readonly database: string | null;
  /** The schema of the app's tables in it. */
  readonly schema: string;
}

/**
 * The customer's own database, which the control plane never reaches: an agent in the customer's
 * environment dials out and acts on it.
 */
export interface ByoiAgentResources {
  readonly placement: 'byoi_agent';
  /** The customer's data plane, which holds this tenant only. */
  readonly data_plane: string;
  /** The enrolled agent (`agt_…`); null until one has enrolled. */
  readonly agent: string | null;
  /** The schema of the app's tables in the customer's database. */
  readonly schema: string;
}

/** What a tenant's placement made, one shape per placement. */
export type PlacementResources =
  | PoolResources
  | SchemaResources
  | DatabaseResources
  | ByoiResources
  | ByoiAgentResources;

/** The resources of one placement. */
export type ResourcesOf<P extends Placement> = Extract<PlacementResources, { readonly placement: P }>;

/** The NOLOGIN role a vendor-run schema or database tenant's objects belong to. */
export function tenantRoleName(tenantId: string): string {
  return `tenantry_${tenantId}`;
}

/**
 * The resources a placement will make for a tenant on a data plane, named from the tenant's id
 * (lowercase letters, digits and `_` only), so that provisioning again finds what an earlier
 * attempt made.
 */
export function plannedResources<P extends Placement>(
  tenantId: string,
  placement: P,
  dataPlane: string,
  appSchema?: string,
): ResourcesOf<P>;
export function plannedResources(
  tenantId: string,
  placement: Placement,
  dataPlane: string,
  appSchema = 'public',
): PlacementResources {
  switch (placement) {
    case 'pool':
      return { placement, data_plane: dataPlane };
    case 'schema':
      return { placement, data_plane: dataPlane, schema: tenantId, role: tenantRoleName(tenantId) };
    case 'database':
      return {
        placement,
        data_plane: dataPlane,
        database: tenantRoleName(tenantId),
        role: tenantRoleName(tenantId),
      };
    case 'byoi':
      return { placement, data_plane: dataPlane, database: null, schema: appSchema };
    case 'byoi_agent':
      return { placement, data_plane: dataPlane, agent: null, schema: appSchema };
  }
}
