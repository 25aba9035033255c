import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import { ControlPlaneUnreachableError } from '../control-plane/index.ts';
import type { TenantContext } from './tenant-context.ts';

/** Why an access token was refused. */
export type AccessTokenErrorReason =
  /** Not a JWS compact token, or its header or claims cannot be read. */
  | 'malformed'
  /** Signed with another algorithm than ES256, or not signed at all (`alg: none`). */
  | 'algorithm_not_allowed'
  /** Its `kid` names no key the control plane publishes. */
  | 'unknown_key'
  /** The signature does not match the published key: forged or altered. */
  | 'bad_signature'
  | 'expired'
  /** Its `nbf` lies in the future. */
  | 'not_yet_valid'
  /** Another issuer than this app's control plane signed it. */
  | 'wrong_issuer'
  /** It is meant for another audience. */
  | 'wrong_audience'
  /** Its `typ` header is not `at+jwt`: some other kind of JWT. */
  | 'wrong_type'
  /** `exp`, `sub` or `tid` is absent. */
  | 'missing_claim'
  /** A claim has the wrong shape (a `tid` that is no tenant id, `roles` or `perms` that are not strings…). */
  | 'invalid_claim';

/** An access token the app must not accept; {@link AccessTokenError.reason} says why. */
export class AccessTokenError extends Error {
  readonly reason: AccessTokenErrorReason;

  constructor(reason: AccessTokenErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AccessTokenError';
    this.reason = reason;
  }
}

/** Where the control plane is, and what its tokens must say. */
export interface AccessTokenVerifierOptions {
  /** The control plane's base URL, e.g. `https://tenantry.example.com`; the JWKS is fetched from it. */
  readonly url: string;
  /** The `iss` tokens must carry; default `url` (the control plane's `TENANTRY_PUBLIC_URL`). */
  readonly issuer?: string;
  /** The `aud` tokens must carry; default `tenantry`. */
  readonly audience?: string;
}

/** Verifies access tokens and tells whose they are. */
export interface AccessTokenVerifier {
  readonly issuer: string;
  readonly audience: string;
  /** Where the public keys are fetched from. */
  readonly jwksUrl: string;
  /**
   * The tenant, subject and roles of a valid token. Rejects with {@link AccessTokenError} when the
   * token must not be accepted, and with {@link ControlPlaneUnreachableError} when the keys could
   * not be fetched (not the caller's fault: answer 503 or 500, not 401).
   */
  verify(token: string): Promise<TenantContext>;
}

/** The tokens of Tenantry's control plane: ES256 only, typed `at+jwt` (RFC 9068). */
const ALGORITHMS = ['ES256'];
const TOKEN_TYPE = 'at+jwt';
const DEFAULT_AUDIENCE = 'tenantry';
/** Tokens are a few hundred bytes; anything far larger is not one, and is not worth parsing. */
const MAX_TOKEN_LENGTH = 8192;
const TENANT_ID = /^ten_[0-9a-z]+$/;

/**
 * Creates a verifier of the access tokens the control plane at `url` mints. The public keys come
 * from its `/.well-known/jwks.json`, cached, and fetched again when a token names a key the cache
 * does not hold: that is how a key rotation reaches a running app. The control plane publishes
 * the key it will rotate to before it signs with it, so tokens of a new key verify at once.
 *
 * Everything about the tenant comes from the verified token, nothing from the request.
 *
 * @example
 * ```ts
 * const verifier = createAccessTokenVerifier({ url: 'https://tenantry.example.com' });
 * const { tenantId, subject, roles } = await verifier.verify(token);
 * ```
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const base = options.url.replace(/\/+$/, '');
  const jwksUrl = `${base}/.well-known/jwks.json`;
  const issuer = options.issuer ?? base;
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  const keys = createRemoteJWKSet(new URL(jwksUrl));

  return {
    issuer,
    audience,
    jwksUrl,
    async verify(token: string): Promise<TenantContext> {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw new AccessTokenError('malformed', 'the access token is empty or far too long to be one');
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          algorithms: ALGORITHMS,
          issuer,
          audience,
          typ: TOKEN_TYPE,
          requiredClaims: ['exp', 'sub', 'tid'],
        }));
      } catch (error) {
        throw refusal(error, jwksUrl);
      }
      return contextOf(payload);
    },
  };
}

/** The context a verified payload names, or the claim that is wrong. */
function contextOf(payload: JWTPayload): TenantContext {
  const {
    tid,
    sub,
    roles = [],
    perms = [],
    iat,
  } = payload as JWTPayload & {
    tid?: unknown;
    roles?: unknown;
    perms?: unknown;
  };
  if (typeof tid !== 'string' || !TENANT_ID.test(tid))
    throw new AccessTokenError('invalid_claim', 'the access token\'s "tid" is not a tenant id (ten_…)');
  if (typeof sub !== 'string' || sub.length === 0)
    throw new AccessTokenError('invalid_claim', 'the access token\'s "sub" is not a non-empty string');
  if (!Array.isArray(roles) || !roles.every((r): r is string => typeof r === 'string'))
    throw new AccessTokenError('invalid_claim', 'the access token\'s "roles" is not a list of strings');
  if (!Array.isArray(perms) || !perms.every((p): p is string => typeof p === 'string'))
    throw new AccessTokenError('invalid_claim', 'the access token\'s "perms" is not a list of strings');
  return {
    tenantId: tid,
    subject: sub,
    roles,
    permissions: perms,
    ...(typeof iat === 'number' ? { issuedAt: iat } : {}),
  };
}

/** The {@link AccessTokenError} for what jose refused, or the key-fetching failure as it is. */
function refusal(error: unknown, jwksUrl: string): Error {
  const cause = { cause: error };
  if (error instanceof errors.JWTExpired)
    return new AccessTokenError('expired', 'the access token has expired', cause);
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing')
      return new AccessTokenError('missing_claim', `the access token has no "${error.claim}" claim`, cause);
    switch (error.claim) {
      case 'iss':
        return new AccessTokenError('wrong_issuer', 'the access token was issued by another issuer', cause);
      case 'aud':
        return new AccessTokenError(
          'wrong_audience',
          'the access token is meant for another audience',
          cause,
        );
      case 'typ':
        return new AccessTokenError('wrong_type', 'the token is not an access token (typ at+jwt)', cause);
      case 'nbf':
        return new AccessTokenError('not_yet_valid', 'the access token is not valid yet', cause);
      default:
        return new AccessTokenError(
          'invalid_claim',
          `the access token's "${error.claim}" claim is not valid`,
          cause,
        );
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new AccessTokenError('algorithm_not_allowed', 'the access token is not signed with ES256', cause);
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return new AccessTokenError(
      'unknown_key',
      'the access token is signed by a key the control plane does not publish',
      cause,
    );
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return new AccessTokenError('bad_signature', "the access token's signature is not valid", cause);
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported
  )
    return new AccessTokenError('malformed', 'the access token is not a well-formed JWT', cause);
  // What is left is fetching the keys: a timeout, a refused connection, a non-200 answer or a body
  // that is no key set. None of it is the token's fault.
  if (error instanceof errors.JOSEError || error instanceof TypeError)
    return new ControlPlaneUnreachableError(jwksUrl, error);
  return error instanceof Error ? error : new Error(String(error));
}
