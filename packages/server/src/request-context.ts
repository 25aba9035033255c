/**
 * Who is acting, shared by every feature: each mutation takes a {@link RequestContext}, and the
 * change recorder writes it into the audit entry.
 */

/**
 * Who did something: an API key, a person (a tenant's member, once members exist), or Tenantry
 * itself (a job, a schedule, named by its component).
 */
export type Actor =
  | { readonly type: 'api_key'; readonly id: string }
  | { readonly type: 'user'; readonly id: string }
  | { readonly type: 'system'; readonly id: string };

/** Who is acting, on behalf of which request and from where; every mutation takes one. */
export interface RequestContext {
  readonly actor: Actor;
  readonly requestId: string | null;
  /** The client's address as the HTTP layer sees it; null for the system's own work. */
  readonly sourceIp: string | null;
}

/** The system acting on its own, e.g. the job worker. */
export function systemContext(component: string): RequestContext {
  return { actor: { type: 'system', id: component }, requestId: null, sourceIp: null };
}
