import {
  type DomainError,
  isScope,
  isTenantAdminPermission,
  type Result,
  type Scope,
  type TenantAdminPermission,
} from '@tenantry/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { ApiKeyService, AuthenticatedKey } from '../api-keys/index.ts';
import type { RequestContext } from '../request-context.ts';
import { declareProblems, replyProblem, sendProblem } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling and in which request; set by {@link requireApiKey} on every `/v1` route. */
    ctx: RequestContext;
    /**
     * The key the request presented, with its scopes; set by {@link requireApiKey}. For a user
     * access token, the user stands in as a restricted key holding the scopes it was given (a
     * staff member's; none for a tenant's member), so that scope checks downstream hold alike.
     */
    apiKey: AuthenticatedKey;
    /** The user a user access token stands for; null when the request came with an API key. */
    user: AuthenticatedUser | null;
  }
  interface FastifyContextConfig {
    /**
     * The one scope (see `SCOPES` in @tenantry/core) a key must hold to call this route. Every
     * `/v1` route declares it; `'public'` only for a `/v1` route outside the API-key scope that
     * authenticates otherwise (the Stripe webhook, by its signature; a license check-in, by
     * the license it carries).
     */
    scope?: Scope | 'public';
    /**
     * The tenant-admin permission (TENANT_ADMIN_PERMISSIONS in @tenantry/core) a tenant's member
     * must hold to call this route with a user access token. Only routes that declare one take a
     * member's token, and only for the tenant in their path (`:id`); every other route takes API
     * keys and staff tokens alone.
     */
    permission?: TenantAdminPermission;
    /**
     * Whether a member may call this route while the tenant is still being provisioned (or its
     * provisioning failed), when every other member route is closed: what onboarding needs, such
     * as giving a BYOI tenant's connection to its own database.
     */
    duringProvisioning?: boolean;
  }
}

/** Who a user access token stands for, once admitted to a route. */
export interface AuthenticatedUser {
  readonly userId: string;
  /** The tenant the token is for; null for a staff token. */
  readonly tenantId: string | null;
  /** The member's permissions in that tenant, read when the request came; empty for staff. */
  readonly permissions: ReadonlySet<string>;
  /** The API scopes the user holds: a staff member's operator role's; none for a tenant's member. */
  readonly scopes: ReadonlySet<Scope>;
}

/** What a route asks of a user access token. */
export interface UserTokenRoute {
  readonly scope: Scope | 'public' | undefined;
  readonly permission: TenantAdminPermission | undefined;
  /** The route's `config.duringProvisioning`: open to members of a tenant still being provisioned. */
  readonly duringProvisioning: boolean;
  /** The tenant id or slug of the route's path (`:id`), if it has one. */
  readonly tenant: string | undefined;
  /** The client's address, for the tenant's IP allow-list. */
  readonly ip: string;
}

/**
 * Verifies user access tokens (signed by the control plane) and decides whether one may call a
 * route, checking membership, permissions and staff roles live. The members feature implements it;
 * the HTTP layer only asks.
 */
export interface UserTokenGate {
  admit(token: string, route: UserTokenRoute): Promise<Result<AuthenticatedUser, DomainError>>;
}

/** The OpenAPI security scheme of user access tokens; an operation lists the permission it needs. */
export const USER_TOKEN_SCHEME = 'userToken';

/**
 * A compact JWS: three base64url parts, the last empty for an unsigned one (refused by the gate,
 * with its reason). API keys never hold a dot, so the two cannot be confused.
 */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The OpenAPI security scheme of API keys; each operation lists the scope it needs under it. */
export const API_KEY_SCHEME = 'apiKey';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function routeName(route: RouteOptions): string {
  return `${String(route.method)} ${route.url}`;
}

/**
 * Makes every `/v1` route declare its scope: registering one without `config.scope` throws, so a
 * route cannot be added to the API unscoped by forgetting, nor hidden from the OpenAPI document
 * (where each operation shows its scope). Registered on the root, before any route.
 */
export function requireScopeDeclarations(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (!route.url?.startsWith('/v1/')) return;
    if (route.config?.scope === undefined) {
      throw new Error(
        `${routeName(route)} declares no scope: add config: { scope: '<scope>' } (see SCOPES in @tenantry/core)`,
      );
    }
    if (route.schema?.hide)
      throw new Error(`${routeName(route)}: a /v1 route may not be hidden from OpenAPI`);
  });
}

/**
 * Refuses every request in the scope it is registered in unless it carries an active API key as
 * a bearer token (401) holding the scope the route declares (403 `insufficient_scope`, naming
 * it). Identity comes from the verified key only, never from anything else the caller sends.
 * Registering a route in this scope without a scope of the catalogue throws.
 *
 * The hook takes a callback rather than returning a promise: a key verified lately is checked
 * synchronously ({@link ApiKeyService.cached}), so most requests go on without a promise or a
 * microtask turn; only a key not seen lately waits for the database.
 */
export function requireApiKey(scope: FastifyInstance, apiKeys: ApiKeyService, users?: UserTokenGate): void {
  scope.decorateRequest('ctx', null as unknown as RequestContext);
  scope.decorateRequest('apiKey', null as unknown as AuthenticatedKey);
  scope.decorateRequest('user', null);
  scope.addHook('onRoute', (route) => {
    const needed = route.config?.scope;
    if (needed === undefined || !isScope(needed)) {
      throw new Error(
        `${routeName(route)} needs an API key, so its config.scope must be a scope of SCOPES in @tenantry/core, not ${JSON.stringify(needed)}`,
      );
    }
    // The OpenAPI document shows each operation's scope (OpenAPI 3.1 lets a bearer scheme list
    // the roles it needs). A new schema object: the route file's may be shared between routes.
    const permission = route.config?.permission;
    if (permission !== undefined && !isTenantAdminPermission(permission)) {
      throw new Error(
        `${routeName(route)}: config.permission must be a permission of TENANT_ADMIN_PERMISSIONS in @tenantry/core, not ${JSON.stringify(permission)}`,
      );
    }
    route.schema = {
      ...route.schema,
      security: [
        { [API_KEY_SCHEME]: [needed] },
        ...(permission === undefined ? [] : [{ [USER_TOKEN_SCHEME]: [permission] }]),
      ],
    };
    // 503: a key not seen lately is looked up in the database, which may be unreachable.
    declareProblems(route, [401, 403, 503]);
  });
  scope.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      const header = request.headers.authorization;
      if (!header) {
        replyProblem(reply, 'missing_api_key', 'send an API key as "Authorization: Bearer <key>"');
        return;
      }
      const token = BEARER.exec(header)?.[1];
      if (!token) {
        refuse(reply);
        return;
      }
      if (users !== undefined && JWT.test(token)) {
        const config = request.routeOptions.config;
        const params = request.params as Record<string, unknown> | undefined;
        const tenant = typeof params?.id === 'string' ? params.id : undefined;
        users
          .admit(token, {
            scope: config.scope,
            permission: config.permission,
            duringProvisioning: config.duringProvisioning === true,
            tenant,
            ip: request.ip,
          })
          .then((admitted) => {
            if (!admitted.ok) {
              sendProblem(reply, admitted.error);
              return;
            }
            const user = admitted.value;
            request.user = user;
            request.apiKey = { id: user.userId, kind: 'restricted', scopes: user.scopes };
            request.ctx = {
              actor: { type: 'user', id: user.userId },
              requestId: request.id,
              sourceIp: request.ip,
            };
            done();
          }, done);
        return;
      }
      const cached = apiKeys.cached(token);
      if (cached !== undefined) {
        admit(request, reply, cached, done);
        return;
      }
      apiKeys.authenticate(token).then((key) => {
        if (!key) {
          refuse(reply);
          return;
        }
        admit(request, reply, key, done);
      }, done);
    },
  );
}

/** Lets the request on when its key holds the route's scope; answers 403 otherwise. */
function admit(
  request: FastifyRequest,
  reply: FastifyReply,
  key: AuthenticatedKey,
  done: (error?: Error) => void,
): void {
  // Undefined only when no route matched: the not-found answer needs no scope.
  const needed = request.routeOptions.config.scope;
  if (needed !== undefined && needed !== 'public' && !key.scopes.has(needed)) {
    sendProblem(reply, {
      code: 'insufficient_scope',
      detail: `this route needs an API key with the scope ${needed}`,
      details: { required_scope: needed },
    });
    return;
  }
  request.apiKey = key;
  request.ctx = { actor: { type: 'api_key', id: key.id }, requestId: request.id, sourceIp: request.ip };
  done();
}

function refuse(reply: FastifyReply): void {
  replyProblem(reply, 'invalid_api_key', 'the API key is unknown, revoked, expired or malformed');
}
