import { randomUUID } from 'node:crypto';
import { type DomainError, type FieldError, fail, ok, type Result, type TenantState } from '@tenantry/core';
import { SignJWT } from 'jose';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import { tenantNotFound } from '../tenants/index.ts';
import { MAX_TOKEN_TTL_SECONDS, SIGNING_ALGORITHM, type SigningKeyService } from './signing-key-service.ts';

/** The `aud` of every access token: apps accept only tokens meant for them. */
export const TOKEN_AUDIENCE = 'tenantry';

/**
 * The `typ` header of access tokens (RFC 9068), so that no other JWT the control plane may sign
 * one day (an ID token, a license) can pass for one.
 */
export const TOKEN_TYPE = 'at+jwt';

/** How long a token lives when the caller does not say. */
export const DEFAULT_TOKEN_TTL_SECONDS = 900;

/** The shortest life a token may be given: below it, ordinary clock skew would expire it on arrival. */
export const MIN_TOKEN_TTL_SECONDS = 60;

/**
 * Tenants that may act, hence be given tokens: the states whose entitlement snapshot is active
 * (evaluateEntitlements in core). Tokens already minted for a tenant that is then suspended stay
 * valid until they expire; the app sees the suspension in the tenant's snapshot.
 */
const ACTING_STATES: ReadonlySet<TenantState> = new Set(['trialing', 'active', 'past_due']);

/** No control characters: the values end up in logs and audit rows. */
const PRINTABLE = /^[^\p{Cc}]*$/u;

/** What to mint a token for, as the API and {@link TokenService.mint} take it. */
export const MintTokenInput = z.strictObject({
  subject: z
    .string()
    .min(1)
    .max(255)
    .regex(PRINTABLE, 'must not hold control characters')
    .describe('The user or service the token acts for (`sub`)'),
  roles: z
    .array(z.string().min(1).max(100).regex(PRINTABLE, 'must not hold control characters'))
    .max(50)
    .optional()
    .describe('Roles within the tenant (`roles`); default none'),
  permissions: z
    .array(z.string().min(1).max(100).regex(PRINTABLE, 'must not hold control characters'))
    .max(200)
    .optional()
    .describe(
      "The vendor's permissions the token grants (`perms`, e.g. `meetings:write`), which the SDK's `allowed()` checks; default none",
    ),
  ttl_seconds: z
    .number()
    .int()
    .min(MIN_TOKEN_TTL_SECONDS)
    .max(MAX_TOKEN_TTL_SECONDS)
    .optional()
    .describe(`Seconds until the token expires; default ${DEFAULT_TOKEN_TTL_SECONDS}`),
});

/** The input of {@link TokenService.mint}. */
export type MintTokenInput = z.input<typeof MintTokenInput>;

/** A minted token, shaped like an OAuth 2.0 token response (RFC 6749 §5.1). */
export interface MintedToken {
  access_token: string;
  token_type: 'Bearer';
  /** Seconds from now until it expires. */
  expires_in: number;
  expires_at: string;
}

/** What {@link TokenService} needs. */
export interface TokenServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly signingKeys: SigningKeyService;
  /** The `iss` of every token: the control plane's public URL. */
  readonly issuer: string;
}

/**
 * Mints the short-lived access tokens (ES256 JWTs) that name a tenant, a subject and roles. Apps
 * verify them against `/.well-known/jwks.json` and take the tenant from them and from nothing else.
 */
export class TokenService {
  /** The `iss` of every token. */
  readonly issuer: string;
  readonly #o: TokenServiceOptions;

  constructor(options: TokenServiceOptions) {
    this.#o = options;
    this.issuer = options.issuer;
  }

  /**
   * Mints a token for the tenant `idOrSlug` and writes an audit row (`access_token.minted`, with
   * the token's `jti`, never the token) in the same transaction. Refuses a tenant that may not act
   * (`tenant_inactive`), an unknown one (`tenant_not_found`) and bad input (`validation_failed`).
   */
  async mint(
    ctx: RequestContext,
    idOrSlug: string,
    input: MintTokenInput,
  ): Promise<Result<MintedToken, DomainError>> {
    const parsed = MintTokenInput.safeParse(input);
    if (!parsed.success) {
      const errors: FieldError[] = parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ path: key, message: 'is not a known field' }))
          : [{ path: issue.path.map(String).join('.') || '(body)', message: issue.message }],
      );
      return fail('validation_failed', `invalid fields: ${errors.map((e) => e.path).join(', ')}`, { errors });
    }
    const subject = parsed.data.subject;
    const roles = [...new Set(parsed.data.roles ?? [])];
    const perms = [...new Set(parsed.data.permissions ?? [])];
    const ttl = parsed.data.ttl_seconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    // Checked before the signing keys are made on first use, so that a refused request writes
    // nothing; checked again in the transaction, which a concurrent suspension may have passed.
    const refusal = await actingTenant(this.#o.db, idOrSlug);
    if (!refusal.ok) return refusal;
    await this.#o.signingKeys.ensureKeys();
    return this.#o.db.transaction().execute(async (tx) => {
      const acting = await actingTenant(tx, idOrSlug);
      if (!acting.ok) return acting;
      const tenant = acting.value;
      const key = await this.#o.signingKeys.activeKey(tx);
      // Read after the key is locked, so that a rotation's retirement time follows this token.
      const iat = Math.floor(this.#o.clock.now().getTime() / 1000);
      const exp = iat + ttl;
      const jti = randomUUID();
      const token = await new SignJWT({ tid: tenant.id, roles, perms })
        .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ: TOKEN_TYPE })
        .setIssuer(this.issuer)
        .setAudience(TOKEN_AUDIENCE)
        .setSubject(subject)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(jti)
        .sign(key.key);
      const expiresAt = new Date(exp * 1000).toISOString();
      await recordChange(tx, ctx, {
        action: 'access_token.minted',
        tenantId: tenant.id,
        target: { type: 'access_token', id: jti },
        data: { subject, roles, permissions: perms, kid: key.kid, expires_at: expiresAt },
        occurredAt: new Date(iat * 1000),
      });
      return ok({
        access_token: token,
        token_type: 'Bearer' as const,
        expires_in: ttl,
        expires_at: expiresAt,
      });
    });
  }
}

/** The tenant `idOrSlug` names, if it may be given access tokens; else the refusal. */
async function actingTenant(
  db: Kysely<Schema>,
  idOrSlug: string,
): Promise<Result<{ id: string; slug: string; state: string }, DomainError>> {
  let query = db.selectFrom('tenants').select(['id', 'slug', 'state']);
  query = idOrSlug.startsWith('ten_')
    ? query.where('id', '=', idOrSlug)
    : query.where('slug', '=', idOrSlug).where('state', '<>', 'deleted');
  const tenant = await query.executeTakeFirst();
  if (!tenant) return tenantNotFound(idOrSlug);
  if (!ACTING_STATES.has(tenant.state as TenantState)) {
    return fail(
      'tenant_inactive',
      `tenant "${tenant.slug}" is ${tenant.state} and may not be given access tokens`,
      {
        details: { state: tenant.state },
      },
    );
  }
  return ok(tenant);
}
