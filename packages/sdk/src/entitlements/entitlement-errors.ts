/** A local check named a tenant whose snapshot is not held: `await entitlements.load(tenantId)` first. */
export class TenantNotLoadedError extends Error {
  readonly tenantId: string;

  constructor(tenantId: string) {
    super(
      `the entitlements of tenant "${tenantId}" are not loaded: await entitlements.load("${tenantId}") before checking them locally (e.g. when the request's tenant is resolved)`,
    );
    this.name = 'TenantNotLoadedError';
    this.tenantId = tenantId;
  }
}

/**
 * The snapshots have not been confirmed by the control plane for longer than `maxStalenessMs`:
 * local checks fail closed until the stream is back.
 */
export class EntitlementsStaleError extends Error {
  /** When the snapshots were last known to be current. */
  readonly staleSince: Date;
  readonly maxStalenessMs: number;

  constructor(staleSince: Date, maxStalenessMs: number, cause: string | null) {
    super(
      `entitlements are stale since ${staleSince.toISOString()}, longer than maxStalenessMs (${maxStalenessMs} ms): ` +
        `the control plane cannot be reached${cause ? ` (${cause})` : ''}, so local checks fail closed until it can`,
    );
    this.name = 'EntitlementsStaleError';
    this.staleSince = staleSince;
    this.maxStalenessMs = maxStalenessMs;
  }
}
