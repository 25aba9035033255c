import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as oidc from 'openid-client';

/** Where minutes finds its OpenID provider (the control plane) and how it is registered there. */
export interface SignInSettings {
  /** The control plane's issuer URL: its `/.well-known/openid-configuration` is read from it. */
  readonly issuer: string;
  /** The client id and secret `tenantry oidc-clients create` printed for minutes. */
  readonly clientId: string;
  readonly clientSecret: string;
  /** Minutes' own public URL: `/callback` under it is the registered redirect URI. */
  readonly publicUrl: string;
}

/** The cookie that holds the signed-in user's access token; HTTP-only, so no script reads it. */
export const TOKEN_COOKIE = 'minutes_token';
/** The cookie that carries the PKCE verifier and state from /login to /callback. */
const FLOW_COOKIE = 'minutes_sign_in';

/**
 * Signs minutes' users in through Tenantry, the OpenID provider: /login sends the browser to the
 * hosted sign-in with Authorization Code + PKCE, /callback exchanges the code for tokens, and the
 * access token goes into an HTTP-only cookie that {@link bearerFromCookie} turns back into the
 * `Authorization` header the SDK's tenant context reads. minutes never sees a password. The
 * access token is for the provider's default resource, the app, so no `resource` is sent; it
 * carries the tenant picked (`tid`) with the user's role and permissions there. `@fastify/cookie`
 * must be registered on the app (src/app.ts does).
 */
export async function registerSignIn(app: FastifyInstance, settings: SignInSettings): Promise<void> {
  const issuer = new URL(settings.issuer);
  const config = await oidc.discovery(
    issuer,
    settings.clientId,
    settings.clientSecret,
    // Tenantry's provider takes a confidential client's secret in the Authorization header only.
    oidc.ClientSecretBasic(settings.clientSecret),
    // A control plane on http://localhost in development; https everywhere else.
    issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined,
  );
  const redirectUri = new URL('/callback', settings.publicUrl).href;
  const secure = new URL(settings.publicUrl).protocol === 'https:';

  app.get<{ Querystring: { organization?: string; select?: string } }>('/login', async (request, reply) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const parameters: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    };
    // The organisation switcher: another of the user's tenants, by id or slug, or the provider's
    // picker of all of them.
    if (request.query.organization) parameters.organization = request.query.organization;
    else if (request.query.select !== undefined) parameters.prompt = 'select_account';
    reply.setCookie(FLOW_COOKIE, JSON.stringify({ verifier, state }), {
      httpOnly: true,
      secure,
      sameSite: 'lax',
      path: '/callback',
      maxAge: 600,
    });
    return reply.redirect(oidc.buildAuthorizationUrl(config, parameters).href);
  });

  app.get('/callback', async (request, reply) => {
    const flow = readFlow(request);
    if (flow === undefined)
      return reply.code(400).type('text/plain').send('sign-in expired: start again at /login');
    reply.clearCookie(FLOW_COOKIE, { path: '/callback' });
    let tokens: oidc.TokenEndpointResponse;
    try {
      tokens = await oidc.authorizationCodeGrant(config, new URL(request.url, settings.publicUrl), {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
      });
    } catch (error) {
      // The provider said no (access_denied: not a member of an organisation that may sign in),
      // or the answer does not belong to this browser's sign-in (state, code): a page that says
      // so, not a 500. Anything else (the provider unreachable) is a real failure.
      if (error instanceof oidc.AuthorizationResponseError || error instanceof oidc.ResponseBodyError)
        return reply
          .code(403)
          .type('text/plain')
          .send(
            `sign-in refused: ${error.error}${error.error_description ? `: ${error.error_description}` : ''}`,
          );
      if (error instanceof oidc.ClientError)
        return reply.code(400).type('text/plain').send(`sign-in could not finish: ${error.message}`);
      throw error;
    }
    reply.setCookie(TOKEN_COOKIE, tokens.access_token, {
      httpOnly: true,
      secure,
      sameSite: 'lax',
      path: '/',
      maxAge: tokens.expires_in ?? 900,
    });
    return reply.redirect('/');
  });

  app.post('/logout', async (_request, reply) => {
    reply.clearCookie(TOKEN_COOKIE, { path: '/' });
    return reply.redirect('/');
  });
}

/** The PKCE verifier and state /login left in the flow cookie, when it is there and well formed. */
function readFlow(request: FastifyRequest): { verifier: string; state: string } | undefined {
  const raw = request.cookies[FLOW_COOKIE];
  if (raw === undefined) return undefined;
  try {
    const flow = JSON.parse(raw) as { verifier?: unknown; state?: unknown };
    return typeof flow.verifier === 'string' && typeof flow.state === 'string'
      ? { verifier: flow.verifier, state: flow.state }
      : undefined;
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * A hook for the routes the browser calls: a request without an `Authorization` header but with
 * the sign-in cookie presents the cookie's access token, so the SDK's tenant context verifies it
 * exactly as a bearer token. State-changing requests must also carry the CSRF header the page
 * sends, since a cookie rides along on any site's request.
 */
export function bearerFromCookie(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const token = request.cookies?.[TOKEN_COOKIE];
  if (request.headers.authorization === undefined && token !== undefined) {
    if (request.method !== 'GET' && request.method !== 'HEAD' && request.headers['x-minutes-csrf'] !== '1') {
      void reply
        .code(403)
        .type('text/plain')
        .send('a state-changing request from the browser needs x-minutes-csrf: 1');
      return;
    }
    request.headers.authorization = `Bearer ${token}`;
  }
  done();
}
