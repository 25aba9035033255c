import { errorCatalog } from '@tenantry/core';
import {
  AccessTokenError,
  type AccessTokenErrorReason,
  type AccessTokenVerifier,
  type TenantContext,
} from '../context/index.ts';

/**
 * What the framework adapters take: a verifier, so each request runs as the tenant its access
 * token names; or, for an app with one tenant and no Tenantry access tokens (self-hosted on a
 * license), that `tenant`, which every request runs as.
 */
export type TenantContextOptions =
  | {
      /** Verifies the bearer token of each request; make one per app with `createAccessTokenVerifier`. */
      readonly verifier: AccessTokenVerifier;
      /**
       * Called with the request's tenant before the route handler, inside the tenant context (e.g. to
       * load the tenant's entitlement snapshot). What it throws goes to the framework's error handling.
       */
      readonly onTenant?: (context: TenantContext) => Promise<void> | void;
    }
  | {
      /** The tenant every request runs as; the `Authorization` header is left to the app. */
      readonly tenant: TenantContext;
      readonly onTenant?: (context: TenantContext) => Promise<void> | void;
    };

/** The RFC 9457 problem a refused request is answered with. */
export interface AccessTokenProblem {
  readonly type: string;
  readonly title: string;
  readonly status: 401;
  readonly detail: string;
  readonly code: 'missing_access_token' | 'invalid_access_token';
  readonly instance: string;
  /** Why the token was refused, for `invalid_access_token`, e.g. `expired`. */
  readonly reason?: AccessTokenErrorReason;
}

/** The answer to a request: its tenant, or a 401 problem with its `WWW-Authenticate` header. */
export type Authentication =
  | { readonly ok: true; readonly context: TenantContext }
  | { readonly ok: false; readonly problem: AccessTokenProblem; readonly wwwAuthenticate: string };

const ERROR_DOCS = 'https://tenantry.dev/docs/errors#';
/** `Bearer <b64token>` (RFC 6750 §2.1). */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
const AUTH_SCHEME = /^Bearer(?: |$)/i;

/** A request's tenant as the adapters' `options` say: the fixed one, or from its access token. */
export function resolveTenant(
  options: TenantContextOptions,
  authorization: string | undefined,
  instance: string,
): Promise<Authentication> {
  if ('tenant' in options) return Promise.resolve({ ok: true, context: options.tenant });
  return authenticateRequest(options.verifier, authorization, instance);
}

/**
 * Resolves a request's tenant from its `Authorization: Bearer` header, and from nothing else the
 * caller sends. Rejects only when the keys cannot be fetched (not the caller's fault).
 */
export async function authenticateRequest(
  verifier: AccessTokenVerifier,
  authorization: string | undefined,
  instance: string,
): Promise<Authentication> {
  if (authorization === undefined || !AUTH_SCHEME.test(authorization)) {
    return refuse(
      'missing_access_token',
      'send an access token minted by the Tenantry control plane as "Authorization: Bearer <token>"',
      instance,
    );
  }
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined) {
    return refuse(
      'invalid_access_token',
      'the Authorization header is not "Bearer <token>"',
      instance,
      'malformed',
    );
  }
  try {
    return { ok: true, context: await verifier.verify(token) };
  } catch (error) {
    if (error instanceof AccessTokenError) {
      return refuse('invalid_access_token', error.message, instance, error.reason);
    }
    throw error;
  }
}

function refuse(
  code: AccessTokenProblem['code'],
  detail: string,
  instance: string,
  reason?: AccessTokenErrorReason,
): Authentication {
  const problem: AccessTokenProblem = {
    type: ERROR_DOCS + code,
    title: errorCatalog[code].title,
    status: 401,
    detail,
    code,
    instance,
    ...(reason === undefined ? {} : { reason }),
  };
  // RFC 6750 §3: no error attribute when the request carried no token at all.
  const wwwAuthenticate =
    code === 'missing_access_token'
      ? 'Bearer'
      : `Bearer error="invalid_token", error_description="${headerSafe(detail)}"`;
  return { ok: false, problem, wwwAuthenticate };
}

/** `error_description` holds printable ASCII but `"` and backslash (RFC 6750 §3); Node refuses other bytes. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, (c) => (c === '"' ? "'" : c === '\\' ? '/' : '?'));
}
