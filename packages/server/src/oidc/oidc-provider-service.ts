import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { entitlesUse, type TenantState } from '@tenantry/core';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import Provider, {
  type Account,
  type Adapter,
  type Configuration,
  errors,
  interactionPolicy,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { escapeHtml } from '../html.ts';
import { isId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import type { SecretBox } from '../secrets/index.ts';
import { DEFAULT_TOKEN_TTL_SECONDS, type SigningKeyService, TOKEN_AUDIENCE } from '../tokens/index.ts';
import { type IdentitySource, OPERATOR_ORGANIZATION, type Organization } from './identity-source.ts';
import { PayloadAdapter } from './oidc-adapter.ts';
import type { OidcClientService } from './oidc-client-service.ts';

/** Where the provider is mounted: its endpoints are `/oidc/auth`, `/oidc/token`… */
export const OIDC_PREFIX = '/oidc';

/**
 * The resource every access token is for: the vendor's app. Apps need not send it (it is the
 * default); it makes the provider issue the JWT access tokens the SDK verifies.
 */
export const APP_RESOURCE = 'urn:tenantry:app';

/** The scopes the provider knows, all of them OpenID Connect's. */
const OIDC_SCOPES = ['openid', 'email', 'profile', 'offline_access'] as const;

/** Seconds. Access tokens as the tokens API mints by default; the rest as OpenID deployments usually do. */
const TTL = {
  AccessToken: DEFAULT_TOKEN_TTL_SECONDS,
  AuthorizationCode: 60,
  // Within the JWKS's hold of a retired key, as access tokens are.
  IdToken: DEFAULT_TOKEN_TTL_SECONDS,
  // Time to sign in, pass MFA and pick an organisation.
  Interaction: 3600,
  RefreshToken: 14 * 86_400,
  Session: 14 * 86_400,
  Grant: 14 * 86_400,
} as const;

/** The model under which the tenant a grant was given for is kept, by grant id, beside the provider's own. */
const ORGANIZATION_MODEL = 'Organization';
/** The model that keeps the sealed key the provider signs its cookies with (the same in every process). */
const COOKIE_KEY_MODEL = 'CookieKey';

/** What the provider service needs. */
export interface OidcProviderOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly secrets: SecretBox;
  readonly signingKeys: SigningKeyService;
  readonly clients: OidcClientService;
  readonly identity: IdentitySource;
  /** The control plane's public URL: the issuer, as in the access tokens the SDK verifies. */
  readonly issuer: string;
}

/** The organisation a grant was given for, as the interaction recorded it: a tenant, or the operator organisation. */
export type GrantOrganization =
  | { readonly kind: 'tenant'; readonly tenantId: string }
  | { readonly kind: 'operator' };

/** A user's membership of the grant's organisation, checked live; undefined when it no longer counts. */
type LiveOrganization = Organization | undefined;

/**
 * Tenantry as the OpenID provider of the vendor's app, on oidc-provider (a certified
 * implementation: no token code here). It signs with the control plane's active signing key, so
 * its access tokens are the ones the SDK verifies against `/.well-known/jwks.json`, and is built
 * again when a rotation makes another key active. The provider's objects live in `oidc_payloads`
 * and clients in `oidc_clients`, so every process behind a load balancer serves every request.
 *
 * Who a token is for is decided live from the identity source: the code exchange and every
 * refresh look the user's membership of the grant's tenant (or, for the operator organisation,
 * the user's staff role) up again, so a removed member, removed staff or a suspended tenant gets
 * no token from then on.
 */
/** A sign-in in progress, as the interaction pages see it. */
export interface PendingSignIn {
  readonly uid: string;
  /** The app's authorization request: client_id, scope, prompt, organization… */
  readonly params: Readonly<Record<string, unknown>>;
  /** The grant of an earlier sign-in of this browser's session with the app, if any. */
  readonly grantId: string | undefined;
  /** The user the provider's own session was signed in as, if any. */
  readonly accountId: string | undefined;
}

/** How a sign-in ends: refused, or signed in with a grant (every prompt answered at once). */
export type SignInOutcome =
  | { readonly error: 'access_denied'; readonly error_description: string }
  | {
      readonly login: { readonly accountId: string };
      readonly consent: { readonly grantId: string };
      readonly select_account: Record<string, never>;
    };

export class OidcProviderService {
  readonly issuer: string;
  readonly #o: OidcProviderOptions;
  /** The provider built for the active key, by kid. */
  #built: { kid: string; provider: Promise<Provider> } | undefined;
  #cookieKey: Promise<Buffer> | undefined;
  /** The Fastify request each raw request came in as: the provider's hooks get only the raw one. */
  readonly #requests = new WeakMap<IncomingMessage, FastifyRequest>();
  /** Organisations already looked up for a provider request, so one request reads them once. */
  readonly #memberships = new WeakMap<object, Map<string, Promise<LiveOrganization>>>();

  constructor(options: OidcProviderOptions) {
    this.#o = options;
    this.issuer = options.issuer.replace(/\/+$/, '');
  }

  /** The identity source sign-in is decided on. */
  get identity(): IdentitySource {
    return this.#o.identity;
  }

  /**
   * Hands a request to the provider. `path` is the request's path below {@link OIDC_PREFIX} (the
   * provider's own routes: `/auth`, `/token`, `/.well-known/openid-configuration`…); the reply
   * must have been hijacked.
   */
  async handle(request: FastifyRequest, path: string, res: ServerResponse): Promise<void> {
    const provider = await this.#provider();
    const raw = request.raw as IncomingMessage & { originalUrl?: string };
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    // As an Express-style mount does: the provider finds its mount path from what was cut off.
    raw.originalUrl = `${OIDC_PREFIX}${path}${query}`;
    raw.url = `${path}${query}`;
    this.#requests.set(raw, request);
    await provider.callback()(raw, res);
  }

  /**
   * The provider for the active signing key, built again after a rotation. Private, like every
   * type of oidc-provider: the server's declarations reach none (see expired-payloads.ts).
   */
  async #provider(): Promise<Provider> {
    const kid = await this.#o.signingKeys.activeKid();
    if (this.#built?.kid !== kid) {
      const provider = this.#build();
      this.#built = { kid, provider };
      provider.catch(() => {
        // A failed build is not kept: the next request builds again (and reports its own failure).
        if (this.#built?.provider === provider) this.#built = undefined;
      });
    }
    return this.#built.provider;
  }

  /**
   * The sign-in in progress that the interaction cookie of `request` names, or undefined when
   * there is none (no cookie, or one of an interaction that has ended).
   */
  async interaction(request: FastifyRequest, res: ServerResponse): Promise<PendingSignIn | undefined> {
    const provider = await this.#provider();
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(request.raw, res);
    } catch (error) {
      // oidc-provider's own errors (no cookie, an interaction gone): no sign-in to go on with.
      if (error instanceof errors.OIDCProviderError) return undefined;
      throw error;
    }
    return {
      uid: details.uid,
      params: details.params,
      grantId: details.grantId,
      accountId: details.session?.accountId,
    };
  }

  /** Ends the sign-in with `outcome`, and answers where the browser goes next (back to the app). */
  async finishInteraction(
    request: FastifyRequest,
    res: ServerResponse,
    outcome: SignInOutcome,
  ): Promise<string> {
    const provider = await this.#provider();
    return provider.interactionResult(request.raw, res, outcome, { mergeWithLastSubmission: false });
  }

  /**
   * The grant of `scopes` to the app `clientId` for `userId`: the sign-in's own grant `grantId`
   * when it is the user's, else a new one. Answers the saved grant's id.
   */
  async grant(
    userId: string,
    clientId: string,
    grantId: string | undefined,
    scopes: readonly string[],
  ): Promise<string> {
    const provider = await this.#provider();
    const grant =
      (grantId === undefined ? undefined : await provider.Grant.find(grantId)) ??
      new provider.Grant({ accountId: userId, clientId });
    if (scopes.length > 0) grant.addOIDCScope(scopes.join(' '));
    return grant.save();
  }

  /** The key the interaction pages' CSRF tokens are made with (the provider's cookie key). */
  csrfToken(sessionId: string, uid: string): Promise<string> {
    return this.#cookieKeyBytes().then((key) =>
      createHmac('sha256', key).update(`oidc-interaction:${sessionId}:${uid}`).digest('base64url'),
    );
  }

  /** Whether `token` is the CSRF token of the session and interaction. */
  async csrfTokenValid(sessionId: string, uid: string, token: string): Promise<boolean> {
    const expected = Buffer.from(await this.csrfToken(sessionId, uid));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** The organisation a grant was given for, or undefined. */
  async organizationOf(grantId: string): Promise<GrantOrganization | undefined> {
    const row = await this.#o.db
      .selectFrom('oidc_payloads')
      .select('payload')
      .where('model', '=', ORGANIZATION_MODEL)
      .where('id', '=', grantId)
      .executeTakeFirst();
    if (row?.payload.operator === true) return { kind: 'operator' };
    const tenantId = row?.payload.tenantId;
    return typeof tenantId === 'string' ? { kind: 'tenant', tenantId } : undefined;
  }

  /**
   * Records the organisation a grant is for. Kept under the grant's id, so that revoking the grant
   * (revokeByGrantId) removes it with the grant's tokens.
   */
  async setOrganization(grantId: string, organization: GrantOrganization): Promise<void> {
    const row = {
      payload: JSON.stringify(
        organization.kind === 'operator' ? { operator: true } : { tenantId: organization.tenantId },
      ),
      grant_id: grantId,
      expires_at: new Date(Date.now() + TTL.Grant * 1000),
    };
    await this.#o.db
      .insertInto('oidc_payloads')
      .values({
        model: ORGANIZATION_MODEL,
        id: grantId,
        uid: null,
        user_code: null,
        consumed_at: null,
        ...row,
      })
      .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(row))
      .execute();
  }

  /**
   * The organisations `userId` may sign in to: the tenants they are a member of that may act, and
   * the operator organisation when they are staff.
   */
  async actingOrganizations(userId: string): Promise<Organization[]> {
    const [all, staffRole] = await Promise.all([
      this.#o.identity.membershipsOf(userId),
      this.#o.identity.staffRoleOf(userId),
    ]);
    const tenants: Organization[] = all
      .filter((m) => entitlesUse(m.tenantState as TenantState))
      .map((membership) => ({ kind: 'tenant', membership }));
    return staffRole === undefined ? tenants : [...tenants, { kind: 'operator', role: staffRole }];
  }

  async #build(): Promise<Provider> {
    const jwk = await this.#o.signingKeys.activePrivateJwk();
    const cookieKey = await this.#cookieKeyBytes();
    const db = this.#o.db;
    const clients = this.#o.clients;
    const adapter = (model: string): Adapter =>
      model === 'Client' ? new ClientAdapter(clients, this.issuer) : new PayloadAdapter(db, model);

    const policy = interactionPolicy.base();
    // Every authorization request comes through the interaction once: it is where the Tenantry
    // session, the organisation and the tenant's access policy are checked, in one place. A
    // request resuming from it carries its result and goes on. `prompt=select_account` asks for
    // the organisation picker (the app's organisation switcher).
    policy.add(
      new interactionPolicy.Prompt(
        { name: 'select_account', requestable: true },
        new interactionPolicy.Check(
          'tenantry_checks',
          'The Tenantry session, organisation and access policy are checked on every sign-in',
          (ctx) => !ctx.oidc.result,
        ),
      ),
      1,
    );

    const configuration: Configuration = {
      adapter,
      clients: [],
      jwks: { keys: [jwk] },
      cookies: { keys: [cookieKey.toString('base64url')] },
      pkce: { required: () => true },
      // A browser app (a public client: the console, a vendor's SPA) calls the token endpoint from
      // the origin of one of its redirect URIs, and only from there; oidc-provider's own rule,
      // stated here rather than left to its default (which logs a notice on every process).
      clientBasedCORS: (ctx, origin, client) =>
        (ctx.oidc.route === 'userinfo' || client.clientAuthMethod === 'none') &&
        (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
      // Authorization Code only: no implicit or hybrid flow, whose tokens travel in the URL.
      responseTypes: ['code'],
      clientAuthMethods: ['client_secret_basic', 'none'],
      clientDefaults: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
        token_endpoint_auth_method: 'client_secret_basic',
      },
      scopes: [...OIDC_SCOPES],
      // The tenant (id or slug) the app asks to sign in to: the organisation switcher's shortcut.
      extraParams: ['organization'],
      claims: {
        openid: ['sub', 'org_id', 'org_slug', 'org_name', 'staff'],
        email: ['email', 'email_verified'],
        profile: ['name'],
      },
      // The ID token carries the granted scopes' claims (email, name, the organisation) itself:
      // the access token is for the vendor's app, not for this provider's userinfo endpoint.
      conformIdTokenClaims: false,
      features: {
        devInteractions: { enabled: false },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => APP_RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, indicator) => {
            if (indicator !== APP_RESOURCE) throw new errors.InvalidTarget();
            return {
              scope: '',
              audience: TOKEN_AUDIENCE,
              accessTokenTTL: TTL.AccessToken,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'ES256' } },
            };
          },
        },
      },
      ttl: { ...TTL },
      interactions: { url: (_ctx, interaction) => `${OIDC_PREFIX}/interaction/${interaction.uid}`, policy },
      findAccount: (ctx, sub, token) => this.#findAccount(ctx, sub, token),
      extraTokenClaims: (ctx, token) => this.#extraTokenClaims(ctx, token),
      renderError: (ctx, out) => {
        ctx.type = 'html';
        ctx.body = errorPage(String(out.error), String(out.error_description ?? ''));
      },
    };
    const provider = new Provider(this.issuer, configuration);
    provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => {
      this.#requests.get(ctx.req)?.log.error({ err: error }, 'OpenID provider error');
    });
    return provider;
  }

  /**
   * The account `sub` names, for the token being issued: at the code exchange and on refresh, the
   * user must still be a member of the grant's tenant and the tenant must still act (or, for the
   * operator organisation, still be staff), else the provider refuses the grant (`invalid_grant`).
   * A refused refresh is recorded.
   */
  async #findAccount(
    ctx: KoaContextWithOIDC,
    sub: string,
    token: { kind?: string | undefined; grantId?: string | undefined } | undefined,
  ): Promise<Account | undefined> {
    const user = await this.#o.db
      .selectFrom('users')
      .select(['id', 'email', 'name', 'email_verified_at'])
      .where('id', '=', sub)
      .executeTakeFirst();
    if (!user) return undefined;
    const grantId = token?.grantId ?? (ctx.oidc.entities.Grant as { jti?: string } | undefined)?.jti;
    let organization: LiveOrganization;
    if (grantId !== undefined) {
      organization = await this.#organizationOfGrant(ctx, sub, grantId);
      if (!organization) {
        if (token?.kind === 'RefreshToken') await this.#recordRefusal(ctx, sub, grantId);
        return undefined;
      }
    }
    return {
      accountId: sub,
      claims: () => ({
        sub,
        email: user.email,
        email_verified: user.email_verified_at !== null,
        ...(user.name === null ? {} : { name: user.name }),
        ...organizationClaims(organization),
      }),
    };
  }

  /**
   * The access token's tenant, roles and permissions — or, for the operator organisation,
   * `staff: true` and the operator role (the claims the API's user-token gate admits staff by);
   * its issue is recorded (its jti, never the token).
   */
  async #extraTokenClaims(
    ctx: KoaContextWithOIDC,
    token: {
      kind?: string | undefined;
      grantId?: string | undefined;
      accountId?: string | undefined;
      jti?: string | undefined;
      clientId?: string | undefined;
    },
  ): Promise<Record<string, unknown> | undefined> {
    if (token.kind !== 'AccessToken' || !token.grantId || !token.accountId) return undefined;
    const organization = await this.#organizationOfGrant(ctx, token.accountId, token.grantId);
    // findAccount checked it moments ago in this request; a change in between refuses the grant.
    if (!organization) throw new errors.InvalidGrant('the user may no longer sign in to this organisation');
    const role = organization.kind === 'operator' ? organization.role : organization.membership.role;
    const now = this.#o.clock.now();
    await this.#o.db.transaction().execute((tx) =>
      recordChange(tx, this.#contextOf(ctx, token.accountId ?? ''), {
        action: 'access_token.issued',
        tenantId: organization.kind === 'operator' ? null : organization.membership.tenantId,
        target: { type: 'access_token', id: token.jti ?? '' },
        data: {
          subject: token.accountId,
          client_id: token.clientId ?? ctx.oidc.client?.clientId ?? null,
          grant_type: String(ctx.oidc.params?.grant_type ?? 'authorization_code'),
          roles: [role],
        },
        occurredAt: now,
      }),
    );
    if (organization.kind === 'operator') return { staff: true, roles: [role] };
    const { membership } = organization;
    return { tid: membership.tenantId, roles: [role], perms: [...membership.permissions] };
  }

  /**
   * The user's membership of the grant's organisation: of its tenant, if the user is still a
   * member and the tenant acts; of the operator organisation, if the user is still staff.
   */
  #organizationOfGrant(ctx: object, userId: string, grantId: string): Promise<LiveOrganization> {
    let cache = this.#memberships.get(ctx);
    if (!cache) {
      cache = new Map();
      this.#memberships.set(ctx, cache);
    }
    const key = `${userId} ${grantId}`;
    let found = cache.get(key);
    if (!found) {
      found = (async () => {
        const granted = await this.organizationOf(grantId);
        if (!granted) return undefined;
        const organizations = await this.actingOrganizations(userId);
        return organizations.find((o) => sameOrganization(o, granted));
      })();
      cache.set(key, found);
    }
    return found;
  }

  async #recordRefusal(ctx: KoaContextWithOIDC, userId: string, grantId: string): Promise<void> {
    const organization = await this.organizationOf(grantId);
    await this.#o.db.transaction().execute((tx) =>
      recordChange(tx, this.#contextOf(ctx, userId), {
        action: 'refresh_token.refused',
        tenantId: organization?.kind === 'tenant' ? organization.tenantId : null,
        target: { type: 'access_token', id: grantId },
        data: {
          subject: userId,
          client_id: ctx.oidc.client?.clientId ?? null,
          reason:
            organization?.kind === 'operator'
              ? 'the user is no longer staff of the operator organisation'
              : 'the user is no longer a member of the tenant, or the tenant may no longer act',
        },
        occurredAt: this.#o.clock.now(),
      }),
    );
  }

  #contextOf(ctx: KoaContextWithOIDC, userId: string): RequestContext {
    const request = this.#requests.get(ctx.req);
    return {
      actor: { type: 'user', id: userId },
      requestId: request?.id ?? null,
      sourceIp: request?.ip ?? null,
    };
  }

  /**
   * The key the provider signs its cookies with, the same in every process: made once, kept
   * sealed with the master key beside the provider's objects.
   */
  #cookieKeyBytes(): Promise<Buffer> {
    this.#cookieKey ??= (async () => {
      const purpose = 'oidc_cookie_key';
      const sealed = await this.#o.secrets.seal(purpose, randomBytes(32).toString('base64url'));
      await this.#o.db
        .insertInto('oidc_payloads')
        .values({
          model: COOKIE_KEY_MODEL,
          id: 'current',
          payload: JSON.stringify({ sealed }),
          grant_id: null,
          uid: null,
          user_code: null,
          expires_at: null,
          consumed_at: null,
        })
        .onConflict((oc) => oc.columns(['model', 'id']).doNothing())
        .execute();
      const row = await this.#o.db
        .selectFrom('oidc_payloads')
        .select('payload')
        .where('model', '=', COOKIE_KEY_MODEL)
        .where('id', '=', 'current')
        .executeTakeFirstOrThrow();
      return Buffer.from(await this.#o.secrets.open(purpose, String(row.payload.sealed)), 'base64url');
    })();
    this.#cookieKey.catch(() => {
      this.#cookieKey = undefined;
    });
    return this.#cookieKey;
  }
}

/** Whether `organization` is the one `granted` names. */
export function sameOrganization(organization: Organization, granted: GrantOrganization): boolean {
  return organization.kind === 'operator'
    ? granted.kind === 'operator'
    : granted.kind === 'tenant' && organization.membership.tenantId === granted.tenantId;
}

/** The organisation as a grant records it. */
export function grantOrganization(organization: Organization): GrantOrganization {
  return organization.kind === 'operator'
    ? { kind: 'operator' }
    : { kind: 'tenant', tenantId: organization.membership.tenantId };
}

/**
 * The ID token's organisation claims: the tenant's id, slug and name; for the operator
 * organisation, `org_slug: operator` and `staff: true`, so the app can tell a staff sign-in.
 */
function organizationClaims(organization: LiveOrganization): Record<string, unknown> {
  if (!organization) return {};
  if (organization.kind === 'operator') {
    return { org_slug: OPERATOR_ORGANIZATION, org_name: OPERATOR_NAME, staff: true };
  }
  const { membership } = organization;
  return { org_id: membership.tenantId, org_slug: membership.tenantSlug, org_name: membership.tenantName };
}

/** The operator organisation's name, as the picker and the ID token show it. */
export const OPERATOR_NAME = 'Operator (vendor staff)';

/**
 * The client id of Tenantry's own web console (packages/console): a first-party public client
 * (no secret: its code runs in the browser; PKCE protects its codes) built in rather than
 * registered, so that the console works on a fresh install before anyone could register it.
 */
const CONSOLE_CLIENT_ID = 'tenantry-console';

/** Where the console's two entry points (operator console, tenant portal) take their codes back. */
const CONSOLE_CALLBACK_PATHS = ['/console/callback', '/portal/callback'] as const;

/** The provider's Client storage: the registered clients, read from `oidc_clients` on each use. */
class ClientAdapter implements Adapter {
  readonly #clients: OidcClientService;
  readonly #issuer: string;

  constructor(clients: OidcClientService, issuer: string) {
    this.#clients = clients;
    this.#issuer = issuer;
  }

  async find(id: string) {
    // The console's redirect URIs are on the control plane's own public URL, exactly: a code is
    // never sent anywhere else, and the console signs in only when opened at that URL.
    if (id === CONSOLE_CLIENT_ID) {
      return {
        client_id: CONSOLE_CLIENT_ID,
        client_name: 'Tenantry console',
        redirect_uris: CONSOLE_CALLBACK_PATHS.map((path) => `${this.#issuer}${path}`),
        token_endpoint_auth_method: 'none' as const,
      };
    }
    // Only ids of the shape the API gives can name a client.
    if (!isId('cli', id)) return undefined;
    const metadata = await this.#clients.metadata(id);
    return metadata ? { ...metadata, redirect_uris: [...metadata.redirect_uris] } : undefined;
  }

  upsert(): Promise<void> {
    return Promise.reject(new Error('clients are registered through /v1/oidc-clients'));
  }

  findByUid(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  findByUserCode(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  consume(): Promise<void> {
    return Promise.reject(new Error('clients are not consumed'));
  }

  destroy(): Promise<void> {
    return Promise.reject(new Error('clients are deleted through /v1/oidc-clients'));
  }

  revokeByGrantId(): Promise<void> {
    return Promise.reject(new Error('clients have no grant'));
  }
}

/** A page of the hosted sign-in flow: one small layout, no script. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
button{font:inherit;padding:.5rem 1rem;margin:.25rem 0;display:block;width:100%;text-align:left}
fieldset{border:0;padding:0}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>`;
}

/** The provider's error page: what went wrong, in the provider's terms, and nothing else. */
function errorPage(error: string, description: string): string {
  return page(
    'Sign-in could not continue',
    `<p role="alert"><strong>${escapeHtml(error)}</strong>${description ? `: ${escapeHtml(description)}` : ''}</p>
<p>Go back to the application and sign in again.</p>`,
  );
}
