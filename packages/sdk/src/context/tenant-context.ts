import { AsyncLocalStorage } from 'node:async_hooks';

/** Who a request acts for: the tenant and the subject (user or service) named by its access token. */
export interface TenantContext {
  /** The tenant's id (`ten_…`). */
  readonly tenantId: string;
  /** The user or service the token was minted for. */
  readonly subject: string;
  /** The roles the token grants within the tenant. */
  readonly roles: readonly string[];
  /**
   * The permissions the token grants within the tenant (`perms`: the vendor's, e.g.
   * `meetings:write`), which `allowed()` checks; none for a token without them.
   */
  readonly permissions?: readonly string[];
  /** When the token was issued (`iat`, seconds since the epoch): a member removed after it no longer counts. */
  readonly issuedAt?: number;
}

/** Tenant-scoped code ran outside {@link runAsTenant}: there is no tenant to scope it to. */
export class NoTenantContextError extends Error {
  constructor(what = 'tenant-scoped code') {
    super(
      `${what} ran without a tenant context: resolve the tenant from the request's access token (the Fastify or Express adapter does) or wrap the call in runAsTenant()`,
    );
    this.name = 'NoTenantContextError';
  }
}

const storage = new AsyncLocalStorage<TenantContext>();

/**
 * Runs `fn` as `context`'s tenant: {@link currentTenant} answers it everywhere in `fn`'s
 * asynchronous call tree, and nowhere else.
 *
 * @example
 * ```ts
 * await runAsTenant({ tenantId: 'ten_123', subject: 'user_1', roles: [] }, async () => {
 *   currentTenant().tenantId; // 'ten_123'
 * });
 * ```
 */
export function runAsTenant<T>(context: TenantContext, fn: () => T): T {
  return storage.run(
    Object.freeze({
      ...context,
      roles: Object.freeze([...context.roles]),
      ...(context.permissions === undefined ? {} : { permissions: Object.freeze([...context.permissions]) }),
    }),
    fn,
  );
}

/** The tenant the current code runs for; throws {@link NoTenantContextError} when there is none. */
export function currentTenant(what?: string): TenantContext {
  const context = storage.getStore();
  if (context === undefined) throw new NoTenantContextError(what);
  return context;
}

/** The tenant the current code runs for, or undefined outside {@link runAsTenant}. */
export function tenantOrUndefined(): TenantContext | undefined {
  return storage.getStore();
}
