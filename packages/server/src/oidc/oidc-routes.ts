import formbody from '@fastify/formbody';
import { ipAllowed } from '@tenantry/core';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { escapeHtml } from '../html.ts';
import type { SigningKeyService } from '../tokens/index.ts';
import { OPERATOR_ORGANIZATION, type Organization } from './identity-source.ts';
import {
  grantOrganization,
  OIDC_PREFIX,
  type OidcProviderService,
  OPERATOR_NAME,
  page,
  type SignInOutcome,
  sameOrganization,
} from './oidc-provider-service.ts';

/** The OpenID scopes a grant may hold; anything else requested is left out of it. */
const GRANTABLE_SCOPES = new Set(['openid', 'email', 'profile', 'offline_access']);

/**
 * The OpenID provider's HTTP side, outside `/v1` (it authenticates by its own protocol):
 * discovery at `/.well-known/openid-configuration` (the issuer is the control plane's URL), the
 * provider's endpoints under `/oidc`, its JWKS being the control plane's, and the interaction
 * pages where a sign-in meets the Tenantry session, the organisation picker and the tenant's
 * access policy.
 */
export const oidcRoutes: FastifyPluginAsync<{
  oidc: OidcProviderService;
  signingKeys: SigningKeyService;
}> = async (app, { oidc, signingKeys }) => {
  // The provider reads its own request bodies (form-encoded and JSON) from the raw stream: no
  // parser here may consume them first.
  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const passThrough =
      (path: (request: FastifyRequest) => string) => async (request: FastifyRequest, reply: FastifyReply) => {
        reply.hijack();
        await oidc.handle(request, path(request), reply.raw);
      };
    raw.get(
      '/.well-known/openid-configuration',
      { schema: { hide: true } },
      passThrough(() => '/.well-known/openid-configuration'),
    );
    // The provider's endpoints answer GET and POST (and OPTIONS for CORS); nothing else reaches it.
    raw.route({
      method: ['GET', 'POST', 'OPTIONS'],
      url: `${OIDC_PREFIX}/*`,
      schema: { hide: true },
      handler: passThrough((request) => `/${(request.params as { '*': string })['*']}`),
    });
  });

  // The provider would publish the active key only; apps get every key the control plane
  // publishes (the next key before it signs, a retired one while its tokens live), as at
  // /.well-known/jwks.json.
  app.get(`${OIDC_PREFIX}/jwks`, { schema: { hide: true } }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    reply.type('application/jwk-set+json');
    return signingKeys.jwks();
  });

  await app.register(async (pages) => {
    await pages.register(formbody);
    pages.get<{ Params: { uid: string } }>(
      `${OIDC_PREFIX}/interaction/:uid`,
      { schema: { hide: true } },
      (request, reply) => interaction(oidc, request, reply, request.params.uid, undefined),
    );
    pages.post<{ Params: { uid: string }; Body: { organization?: unknown; csrf_token?: unknown } }>(
      `${OIDC_PREFIX}/interaction/:uid/organization`,
      { schema: { hide: true } },
      async (request, reply) => {
        const session = await oidc.identity.currentSession(request);
        const { organization, csrf_token: csrf } = request.body ?? {};
        if (
          !session ||
          typeof csrf !== 'string' ||
          !(await oidc.csrfTokenValid(session.sessionId, request.params.uid, csrf))
        ) {
          return sendPage(
            reply,
            403,
            'This form has expired',
            '<p role="alert">The form was not sent from this sign-in. Go back to the application and sign in again.</p>',
          );
        }
        if (typeof organization !== 'string' || organization.length === 0) {
          return sendPage(
            reply,
            400,
            'Choose an organisation',
            '<p role="alert">No organisation was chosen.</p>',
          );
        }
        return interaction(oidc, request, reply, request.params.uid, organization);
      },
    );
  });
};

/**
 * One step of a sign-in: with no Tenantry session, to the hosted sign-in and back; then the
 * organisation (the one asked for, the grant's, the only one, or the user's pick: a tenant, or
 * the operator organisation for staff); then the tenant's access policy (the IP allow-list, MFA);
 * then back to the provider with the login and a grant of the requested scopes for that
 * organisation (first-party apps: no consent page).
 */
async function interaction(
  oidc: OidcProviderService,
  request: FastifyRequest,
  reply: FastifyReply,
  uid: string,
  chosen: string | undefined,
): Promise<FastifyReply> {
  const here = `${OIDC_PREFIX}/interaction/${encodeURIComponent(uid)}`;
  const details = await oidc.interaction(request, reply.raw);
  // No interaction cookie, or one of another sign-in: nothing of it may go on here.
  if (details === undefined) {
    return sendPage(
      reply,
      400,
      'This sign-in has expired',
      '<p role="alert">Go back to the application and sign in again.</p>',
    );
  }
  if (details.uid !== uid) {
    return sendPage(
      reply,
      400,
      'This sign-in has expired',
      '<p role="alert">Go back to the application and sign in again.</p>',
    );
  }
  const session = await oidc.identity.currentSession(request);
  if (!session) return reply.redirect(`/sign-in?return_to=${encodeURIComponent(here)}`, 303);

  const finish = async (outcome: SignInOutcome) =>
    reply.redirect(await oidc.finishInteraction(request, reply.raw, outcome), 303);

  const organizations = await oidc.actingOrganizations(session.userId);
  if (organizations.length === 0) {
    return finish({
      error: 'access_denied',
      error_description: 'the user is not a member of any organisation that may sign in',
    });
  }
  const params = details.params;
  let organization: Organization | undefined;
  if (chosen !== undefined) {
    organization = byRef(organizations, chosen);
    // A pick that is not one of the user's own acting organisations: a forged form, or one gone since.
    if (!organization)
      return pickerPage(
        oidc,
        reply,
        uid,
        session.sessionId,
        organizations,
        'That organisation is not one you may sign in to.',
      );
  } else {
    const asked = typeof params.organization === 'string' ? params.organization : undefined;
    const picking = String(params.prompt ?? '')
      .split(' ')
      .includes('select_account');
    if (asked !== undefined) organization = byRef(organizations, asked);
    // The operator organisation is never a fallback: an app asking for it gets it or a refusal.
    if (asked === OPERATOR_ORGANIZATION && !organization) {
      return finish({
        error: 'access_denied',
        error_description: 'the user is not staff of the operator organisation',
      });
    }
    const sameUser = details.accountId === session.userId;
    if (!organization && !picking && details.grantId && sameUser) {
      const granted = await oidc.organizationOf(details.grantId);
      if (granted) organization = organizations.find((o) => sameOrganization(o, granted));
    }
    if (!organization && organizations.length === 1) organization = organizations[0];
    if (!organization) return pickerPage(oidc, reply, uid, session.sessionId, organizations, undefined);
  }

  // The operator organisation has no tenant access policy; a tenant's is enforced here.
  if (organization.kind === 'tenant') {
    const { membership } = organization;
    const policy = await oidc.identity.accessPolicyOf(membership.tenantId);
    if (!ipAllowed(request.ip, policy.ip_allow_list)) {
      return sendPage(
        reply,
        403,
        'Sign-in not allowed from this network',
        `<p role="alert">${escapeHtml(membership.tenantName)} allows sign-in only from its own networks, and this request comes from ${escapeHtml(request.ip)}.</p>
<p>Connect from an allowed network, or ask an administrator of ${escapeHtml(membership.tenantName)}.</p>`,
      );
    }
    if (policy.mfa_required && session.mfaVerifiedAt === null) {
      return reply.redirect(`/mfa?return_to=${encodeURIComponent(here)}`, 303);
    }
  }

  const clientId = String(params.client_id);
  // A grant is for one organisation: another organisation's sign-in gets a grant of its own.
  const earlier = details.grantId && details.accountId === session.userId ? details.grantId : undefined;
  const granted = earlier ? await oidc.organizationOf(earlier) : undefined;
  const reused = granted && sameOrganization(organization, granted) ? earlier : undefined;
  const requested = String(params.scope ?? '')
    .split(' ')
    .filter((scope) => GRANTABLE_SCOPES.has(scope));
  const grantId = await oidc.grant(session.userId, clientId, reused, requested);
  await oidc.setOrganization(grantId, grantOrganization(organization));
  // Every prompt is answered here at once, `select_account` too: a prompt the app asked for and
  // the result leaves out would send the browser round again.
  return finish({ login: { accountId: session.userId }, consent: { grantId }, select_account: {} });
}

/**
 * The organisation `ref` names: `operator` the operator organisation (a tenant whose slug is
 * `operator` is named by its id), else a tenant by id or slug.
 */
function byRef(organizations: readonly Organization[], ref: string): Organization | undefined {
  if (ref === OPERATOR_ORGANIZATION) return organizations.find((o) => o.kind === 'operator');
  return organizations.find(
    (o) => o.kind === 'tenant' && (o.membership.tenantId === ref || o.membership.tenantSlug === ref),
  );
}

/**
 * The organisation picker: one button per tenant, and one for the operator organisation when the
 * user is staff, in a form that carries the CSRF token.
 */
async function pickerPage(
  oidc: OidcProviderService,
  reply: FastifyReply,
  uid: string,
  sessionId: string,
  organizations: readonly Organization[],
  error: string | undefined,
): Promise<FastifyReply> {
  const csrf = await oidc.csrfToken(sessionId, uid);
  const buttons = organizations
    .map((o) =>
      o.kind === 'operator'
        ? `<button type="submit" name="organization" value="${OPERATOR_ORGANIZATION}">${escapeHtml(OPERATOR_NAME)}</button>`
        : `<button type="submit" name="organization" value="${escapeHtml(o.membership.tenantId)}">${escapeHtml(o.membership.tenantName)} <small>(${escapeHtml(o.membership.tenantSlug)})</small></button>`,
    )
    .join('\n');
  return sendPage(
    reply,
    error ? 403 : 200,
    'Choose an organisation',
    `${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${OIDC_PREFIX}/interaction/${escapeHtml(encodeURIComponent(uid))}/organization">
<input type="hidden" name="csrf_token" value="${escapeHtml(csrf)}">
<fieldset>
<legend>Which organisation do you want to sign in to?</legend>
${buttons}
</fieldset>
</form>`,
  );
}

function sendPage(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return (
    reply
      .code(status)
      .header('cache-control', 'no-store')
      // No `form-action 'self'`: the organisation picker's POST ends, redirect by redirect, at the
      // app's redirect URI on another site, and browsers hold every redirect of a form to it.
      .header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      )
      .type('text/html; charset=utf-8')
      .send(page(title, body))
  );
}
