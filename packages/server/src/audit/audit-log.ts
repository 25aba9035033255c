import type { Actor } from './audit-chain.ts';

export type { Actor } from './audit-chain.ts';

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
