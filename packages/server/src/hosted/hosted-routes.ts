import { fastifyFormbody } from '@fastify/formbody';
import { type DomainError, errorCatalog, type FieldError } from '@tenantry/core';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type {
  AccountService,
  CurrentSession,
  MfaService,
  Origin,
  SessionService,
} from '../accounts/index.ts';
import { userContext } from '../accounts/index.ts';
import { DEFAULT_BRAND } from '../config.ts';
import { type Html, html } from '../html.ts';
import type { Brand, Mailer, MailOutcome } from '../mail/index.ts';
import type { MemberService } from '../members/index.ts';
import type { SelfServeService } from '../self-serve/index.ts';
import { Csrf } from './csrf.ts';
import { alert, csrfField, field, layout } from './html.ts';
import { safeReturnTo } from './return-to.ts';
import { signupPages } from './signup-pages.ts';

/** What the hosted pages use. */
export interface HostedServices {
  readonly accounts: AccountService;
  readonly sessions: SessionService;
  readonly mfa: MfaService;
  readonly mailer: Mailer;
  /** Invitation links land on these pages: looked up, then accepted by the invited user. */
  readonly members: MemberService;
  /** Self-serve sign-up's trials, and the vendor's branding the pages show. */
  readonly selfServe: SelfServeService;
}

/**
 * What the invitation page says for a link that does not work, by refusal: its own page, naming no
 * tenant and no address, so whoever holds a spent, withdrawn or mistyped link learns nothing about
 * who sent it.
 */
const INVITATION_REFUSALS: Readonly<Record<string, string>> = {
  invitation_not_found: 'This invitation link is not valid. Check that the whole link was copied.',
  invitation_used: 'This invitation was already accepted. Each invitation link works once.',
  invitation_revoked: 'This invitation was withdrawn. Ask whoever invited you for a new one.',
  invitation_expired: 'This invitation has expired. Ask whoever invited you for a new one.',
};

/** Where a signed-in user lands when the sign-in named nowhere to return to. */
const HOME = '/account/sessions';

/**
 * Strict for pages that run no script: nothing loads but inline styles and https images (the
 * vendor's logo), and no other site may frame a page (clickjacking). No `form-action`: browsers
 * hold every redirect after a form's POST to it, and a sign-in or MFA form posted while an app
 * signs its user in ends, redirect by redirect, at the app's registered redirect URI on another
 * site, which `form-action 'self'` blocks (Chromium aborts the navigation; found by
 * test/e2e/sign-in-browser.postgres.test.ts).
 */
const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'";

type Body = Readonly<Record<string, unknown>>;

/** A form field as one string: missing, repeated or not text is empty. */
function text(body: Body | undefined, name: string): string {
  const value = body?.[name];
  return typeof value === 'string' ? value : '';
}

/** The hidden field that carries where to go next through a form post. */
function returnToField(returnTo: string | undefined): Html {
  return returnTo ? html`<input type="hidden" name="return_to" value="${returnTo}">` : html``;
}

/** `path` with `return_to` in its query, when there is somewhere to return to. */
function withReturnTo(
  path: string,
  returnTo: string | undefined,
  extra: Record<string, string> = {},
): string {
  const query = new URLSearchParams(extra);
  if (returnTo) query.set('return_to', returnTo);
  const encoded = query.toString();
  return encoded === '' ? path : `${path}?${encoded}`;
}

/** `ann@example.com` as `a…@example.com`: enough to recognise one's own address, not to read it out. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return at <= 0 ? '…' : `${email.charAt(0)}…${email.slice(at)}`;
}

function fieldError(errors: readonly FieldError[] | undefined, path: string): string | undefined {
  return errors?.find((e) => e.path === path)?.message;
}

/**
 * The hosted sign-in pages: server-rendered HTML forms, no script, every POST guarded by a CSRF
 * token, branded with the vendor's name, colour and logo. Registered at the root, outside `/v1`:
 * people use them with a browser, not an API key.
 */
export const hostedRoutes: FastifyPluginAsync<HostedServices> = async (app, services) => {
  const { accounts, sessions, mfa, mailer, members, selfServe } = services;
  const csrf = new Csrf(sessions);
  await app.register(fastifyFormbody);

  // The vendor's branding as its settings say now (the console's settings page changes it).
  const brands = new WeakMap<FastifyRequest, Brand>();
  app.addHook('onRequest', async (request) => {
    brands.set(request, await selfServe.brand());
  });

  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-frame-options', 'DENY');
    // Reset and verification links carry their token in the URL: never sent on as a Referer.
    reply.header('referrer-policy', 'no-referrer');
    // Pages show secrets once (TOTP secret, recovery codes): no cache may keep them.
    reply.header('cache-control', 'no-store');
    done(null, payload);
  });

  // Every state-changing request needs the CSRF token of the cookie it carries.
  app.addHook('preHandler', (request, reply, done) => {
    if (request.method !== 'POST') return done();
    if (csrf.verify(request, (request.body as Body | undefined)?._csrf)) return done();
    void send(
      reply,
      403,
      'The form could not be trusted',
      alert(
        'This form was not sent from this site, or the page is too old. Go back, reload the page and try again.',
        'csrf_token_invalid',
      ),
    );
  });

  const origin = (request: FastifyRequest): Origin => ({
    requestId: request.id,
    ip: request.ip,
    userAgent: request.headers['user-agent'],
  });

  function send(reply: FastifyReply, status: number, title: string, body: Html): FastifyReply {
    return (
      reply
        .code(status)
        .type('text/html; charset=utf-8')
        // The onRequest hook set the brand; only a request it failed on has none, and that one is
        // answered by the app's error handler before a page is made.
        .send(layout(brands.get(reply.request) ?? DEFAULT_BRAND, title, body))
    );
  }

  /** The status of a domain error's page, with Retry-After for a rate limit. */
  function statusOf(reply: FastifyReply, error: DomainError): number {
    const retry = error.details?.retry_after;
    if (typeof retry === 'number') reply.header('retry-after', String(retry));
    return errorCatalog[error.code].status;
  }

  function mailNotice(outcome?: MailOutcome): Html {
    if (!mailer.status().configured)
      return html`<p class="notice">Mail is not configured on this server (TENANTRY_SMTP_URL is not set): the link was written to the server's log instead.</p>`;
    if (outcome === 'failed')
      return html`<p class="notice">Sending the mail failed. Try again in a few minutes.</p>`;
    return html``;
  }

  /** The signed-in user, or a redirect to sign in and come back (GET) / a 401 page (POST). */
  async function signedIn(request: FastifyRequest, reply: FastifyReply): Promise<CurrentSession | undefined> {
    const current = await sessions.current(request);
    if (current !== undefined) return current;
    if (request.method === 'GET') {
      const back = safeReturnTo(request.url);
      void reply.redirect(`/sign-in${back ? `?return_to=${encodeURIComponent(back)}` : ''}`, 303);
    } else {
      void send(
        reply,
        401,
        'Sign in first',
        html`${alert('Your session has ended. Sign in again.', 'sign_in_required')}<p><a href="/sign-in">Sign in</a></p>`,
      );
    }
    return undefined;
  }

  // --- Sign-up and email verification ---------------------------------------------------------

  function signUpForm(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    values: {
      email?: string;
      name?: string;
      errors?: readonly FieldError[];
      message?: string;
      code?: string;
      returnTo?: string | undefined;
    } = {},
  ) {
    return send(
      reply,
      status,
      'Create your account',
      html`${alert(values.message, values.code)}
<form method="post" action="/sign-up" novalidate>
${csrfField(csrf.tokenFor(request, reply))}
${returnToField(values.returnTo)}
${field('Email', 'email', { type: 'email', value: values.email, error: fieldError(values.errors, 'email'), autocomplete: 'email' })}
${field('Name', 'name', { value: values.name, error: fieldError(values.errors, 'name'), autocomplete: 'name', required: false })}
${field('Password', 'password', { type: 'password', error: fieldError(values.errors, 'password'), autocomplete: 'new-password' })}
<button type="submit">Sign up</button>
</form>
<p>Already have an account? <a href="${withReturnTo('/sign-in', values.returnTo)}">Sign in</a></p>`,
    );
  }

  // `email` prefills the form (an invitation's page links here with the invited address).
  app.get('/sign-up', { schema: { hide: true } }, (request, reply) => {
    const query = request.query as Body;
    const email = text(query, 'email');
    return signUpForm(request, reply, 200, {
      ...(email === '' ? {} : { email }),
      returnTo: safeReturnTo(query.return_to),
    });
  });

  app.post('/sign-up', { schema: { hide: true } }, async (request, reply) => {
    const body = request.body as Body | undefined;
    const email = text(body, 'email');
    const name = text(body, 'name');
    const returnTo = safeReturnTo(body?.return_to);
    const result = await accounts.signUp(origin(request), { email, password: text(body, 'password'), name });
    if (!result.ok) {
      return signUpForm(request, reply, statusOf(reply, result.error), {
        email,
        name,
        returnTo,
        ...(result.error.errors ? { errors: result.error.errors } : {}),
        message: result.error.detail,
        code: result.error.code,
      });
    }
    return send(
      reply,
      200,
      'Check your email',
      html`<p>We sent a link to <strong>${email.trim()}</strong>. Open it to verify your address, then sign in.</p>${mailNotice(result.value.mail)}${
        returnTo
          ? html`<p>Once that is done, <a href="${withReturnTo('/sign-in', returnTo)}">sign in here</a> to carry on where you were.</p>`
          : ''
      }`,
    );
  });

  app.get('/verify-email', { schema: { hide: true } }, async (request, reply) => {
    // A GET only shows a button: mail scanners open links, and must not spend the link by it.
    const token = text(request.query as Body, 'token');
    const link = await accounts.checkLink(token, 'verify_email');
    if (!link.ok) return linkRefused(reply, link.error);
    return send(
      reply,
      200,
      'Verify your email',
      html`<form method="post" action="/verify-email">
${csrfField(csrf.tokenFor(request, reply))}
<input type="hidden" name="token" value="${token}">
<button type="submit">Verify my email address</button>
</form>`,
    );
  });

  app.post('/verify-email', { schema: { hide: true } }, async (request, reply) => {
    const result = await accounts.verifyEmail(origin(request), text(request.body as Body, 'token'));
    if (!result.ok) return linkRefused(reply, result.error);
    return send(
      reply,
      200,
      'Email verified',
      html`<p>Your address <strong>${result.value.email}</strong> is verified.</p><p><a href="/sign-in">Sign in</a></p>`,
    );
  });

  function linkRefused(reply: FastifyReply, error: DomainError) {
    return send(
      reply,
      statusOf(reply, error),
      'This link does not work',
      html`${alert(error.detail, error.code)}<p><a href="/sign-in">Sign in</a> (an unverified address gets a new link) or <a href="/forgot-password">reset your password</a>.</p>`,
    );
  }

  signupPages(app, {
    selfServe,
    csrfToken: (request, reply) => csrf.tokenFor(request, reply),
    send,
    statusOf,
    origin,
    signedInUser: async (request) => (await sessions.current(request))?.userId,
  });

  // --- Sign-in and the second factor ----------------------------------------------------------

  function signInForm(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    returnTo: string | undefined,
    message?: { text: string; code: string },
  ) {
    return send(
      reply,
      status,
      'Sign in',
      html`${alert(message?.text, message?.code)}
<form method="post" action="/sign-in">
${csrfField(csrf.tokenFor(request, reply))}
${returnToField(returnTo)}
${field('Email', 'email', { type: 'email', autocomplete: 'username' })}
${field('Password', 'password', { type: 'password', autocomplete: 'current-password' })}
<button type="submit">Sign in</button>
</form>
<p><a href="/forgot-password">Forgot your password?</a> · <a href="${withReturnTo('/sign-up', returnTo)}">Create an account</a></p>`,
    );
  }

  app.get('/sign-in', { schema: { hide: true } }, (request, reply) =>
    signInForm(request, reply, 200, safeReturnTo((request.query as Body).return_to)),
  );

  app.post('/sign-in', { schema: { hide: true } }, async (request, reply) => {
    const body = request.body as Body | undefined;
    const returnTo = safeReturnTo(body?.return_to);
    const result = await accounts.signIn(origin(request), {
      email: text(body, 'email'),
      password: text(body, 'password'),
    });
    if (!result.ok) {
      // The same page for an unknown email and a wrong password; the email is not echoed back.
      return signInForm(request, reply, statusOf(reply, result.error), returnTo, {
        text: `${result.error.detail[0]?.toUpperCase() ?? ''}${result.error.detail.slice(1)}.`,
        code: result.error.code,
      });
    }
    sessions.setCookie(reply, result.value.session);
    if (result.value.stage === 'mfa') {
      return reply.redirect(`/mfa${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`, 303);
    }
    return reply.redirect(returnTo ?? HOME, 303);
  });

  function mfaForm(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    returnTo: string | undefined,
    error?: DomainError,
  ) {
    return send(
      reply,
      status,
      'Two-step verification',
      html`${alert(error?.detail, error?.code)}
<form method="post" action="/mfa">
${csrfField(csrf.tokenFor(request, reply))}
${returnToField(returnTo)}
${field('Code from your authenticator app, or a recovery code', 'code', { autocomplete: 'one-time-code', inputmode: 'numeric' })}
<button type="submit">Verify</button>
</form>`,
    );
  }

  /** The session waiting for its second factor, or the page that says there is none. */
  async function pendingOf(request: FastifyRequest, reply: FastifyReply) {
    const found = await sessions.find(request);
    if (found?.state === 'pending_mfa') return found;
    void send(
      reply,
      401,
      'Sign in first',
      html`${alert('Sign in with your password first; the code is asked for next.', 'sign_in_required')}<p><a href="/sign-in">Sign in</a></p>`,
    );
    return undefined;
  }

  app.get('/mfa', { schema: { hide: true } }, async (request, reply) => {
    const pending = await pendingOf(request, reply);
    if (pending === undefined) return reply;
    return mfaForm(request, reply, 200, safeReturnTo((request.query as Body).return_to));
  });

  app.post('/mfa', { schema: { hide: true } }, async (request, reply) => {
    const pending = await pendingOf(request, reply);
    if (pending === undefined) return reply;
    const body = request.body as Body | undefined;
    const returnTo = safeReturnTo(body?.return_to);
    const result = await mfa.completeSignIn(
      origin(request),
      { sessionId: pending.id, userId: pending.userId, email: pending.email },
      text(body, 'code'),
    );
    if (!result.ok) return mfaForm(request, reply, statusOf(reply, result.error), returnTo, result.error);
    sessions.setCookie(reply, result.value);
    return reply.redirect(returnTo ?? HOME, 303);
  });

  // --- Invitations ----------------------------------------------------------------------------

  function invitationRefused(reply: FastifyReply, error: DomainError) {
    return send(
      reply,
      statusOf(reply, error),
      'This invitation does not work',
      html`${alert(INVITATION_REFUSALS[error.code] ?? `${error.detail}.`, error.code)}<p><a href="/sign-in">Sign in</a></p>`,
    );
  }

  app.get('/sign-in/invitation', { schema: { hide: true } }, async (request, reply) => {
    // A GET only shows what the invitation is for: opening the link (a mail scanner does) accepts nothing.
    const query = request.query as Body;
    const token = text(query, 'token');
    const returnTo = safeReturnTo(query.return_to);
    const found = await members.invitationByToken(token);
    if (!found.ok) return invitationRefused(reply, found.error);
    const invitation = found.value;
    const what = html`<p>You are invited to join <strong id="tenant">${invitation.tenantName}</strong> as <strong id="role">${invitation.role}</strong>.</p>`;
    const user = await sessions.current(request);
    if (user === undefined) {
      // Back to this very page once signed in (or signed up, verified and signed in).
      const here = withReturnTo('/sign-in/invitation', returnTo, { token });
      return send(
        reply,
        200,
        `Join ${invitation.tenantName}`,
        html`${what}
<p>The invitation is for <strong>${invitation.email}</strong>. Sign in with that address to accept it.</p>
<p><a href="${withReturnTo('/sign-in', here)}">Sign in</a></p>
<p>No account yet? <a href="${withReturnTo('/sign-up', here, { email: invitation.email })}">Create one</a> with that address, verify it, then sign in.</p>`,
      );
    }
    if (user.userId !== invitation.userId) {
      return send(
        reply,
        errorCatalog.invitation_mismatch.status,
        `Join ${invitation.tenantName}`,
        html`${alert(`This invitation is for ${maskEmail(invitation.email)}, and you are signed in as ${user.email}. Sign out, then open the invitation link again and sign in as that user.`, 'invitation_mismatch')}
<form method="post" action="/sign-out">${csrfField(csrf.tokenFor(request, reply))}<button type="submit" class="secondary">Sign out</button></form>`,
      );
    }
    return send(
      reply,
      200,
      `Join ${invitation.tenantName}`,
      html`${what}
<p>Signed in as <strong>${user.email}</strong>.</p>
<form method="post" action="/sign-in/invitation">
${csrfField(csrf.tokenFor(request, reply))}
<input type="hidden" name="token" value="${token}">
${returnToField(returnTo)}
<button type="submit">Join ${invitation.tenantName}</button>
</form>`,
    );
  });

  app.post('/sign-in/invitation', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    const body = request.body as Body | undefined;
    const returnTo = safeReturnTo(body?.return_to);
    // Accepts only for the signed-in user; the service refuses another user's invitation.
    const result = await members.acceptInvitation(
      userContext(user.userId, origin(request)),
      text(body, 'token'),
      user.userId,
    );
    if (!result.ok) {
      if (INVITATION_REFUSALS[result.error.code] !== undefined) return invitationRefused(reply, result.error);
      return send(
        reply,
        statusOf(reply, result.error),
        'The invitation could not be accepted',
        html`${alert(`${result.error.detail[0]?.toUpperCase() ?? ''}${result.error.detail.slice(1)}.`, result.error.code)}<p><a href="${HOME}">Your account</a></p>`,
      );
    }
    // The OpenID provider's sign-in sent the user here: back to it, now a member.
    if (returnTo) return reply.redirect(returnTo, 303);
    const joined = (await members.membershipsOf(user.userId)).find(
      (m) => m.tenantId === result.value.tenant_id,
    );
    return send(
      reply,
      200,
      `You joined ${joined?.tenantName ?? 'the team'}`,
      html`<p>You are now a member of <strong id="tenant">${joined?.tenantName}</strong> as <strong id="role">${result.value.role}</strong>.</p><p><a href="${HOME}">Your account</a></p>`,
    );
  });

  // --- Password reset -------------------------------------------------------------------------

  function forgotForm(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    email?: string,
    error?: DomainError,
  ) {
    return send(
      reply,
      status,
      'Reset your password',
      html`${alert(error?.detail, error?.code)}
<form method="post" action="/forgot-password" novalidate>
${csrfField(csrf.tokenFor(request, reply))}
${field('Email', 'email', { type: 'email', value: email, error: fieldError(error?.errors, 'email'), autocomplete: 'email' })}
<button type="submit">Send me a link</button>
</form>`,
    );
  }

  app.get('/forgot-password', { schema: { hide: true } }, (request, reply) =>
    forgotForm(request, reply, 200),
  );

  app.post('/forgot-password', { schema: { hide: true } }, async (request, reply) => {
    const email = text(request.body as Body, 'email');
    const result = await accounts.requestPasswordReset(origin(request), email);
    if (!result.ok) return forgotForm(request, reply, statusOf(reply, result.error), email, result.error);
    // The same page whether or not an account has the email.
    return send(
      reply,
      200,
      'Check your email',
      html`<p>If an account uses <strong>${email.trim()}</strong>, a link to set a new password is on its way. It works for one hour.</p>${mailNotice()}`,
    );
  });

  function resetForm(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    token: string,
    error?: DomainError,
  ) {
    return send(
      reply,
      status,
      'Choose a new password',
      html`${alert(error?.detail, error?.code)}
<form method="post" action="/reset-password">
${csrfField(csrf.tokenFor(request, reply))}
<input type="hidden" name="token" value="${token}">
${field('New password', 'password', { type: 'password', error: fieldError(error?.errors, 'password'), autocomplete: 'new-password' })}
<button type="submit">Set password</button>
</form>`,
    );
  }

  app.get('/reset-password', { schema: { hide: true } }, async (request, reply) => {
    const token = text(request.query as Body, 'token');
    const link = await accounts.checkLink(token, 'reset_password');
    if (!link.ok) return linkRefused(reply, link.error);
    return resetForm(request, reply, 200, token);
  });

  app.post('/reset-password', { schema: { hide: true } }, async (request, reply) => {
    const body = request.body as Body | undefined;
    const token = text(body, 'token');
    const result = await accounts.resetPassword(origin(request), token, text(body, 'password'));
    if (!result.ok) {
      if (result.error.code === 'link_invalid') return linkRefused(reply, result.error);
      return resetForm(request, reply, statusOf(reply, result.error), token, result.error);
    }
    sessions.clearCookie(reply);
    return send(
      reply,
      200,
      'Password changed',
      html`<p>Your password is changed, and every session of your account was signed out.</p><p><a href="/sign-in">Sign in</a></p>`,
    );
  });

  // --- MFA settings ---------------------------------------------------------------------------

  async function mfaSettings(
    request: FastifyRequest,
    reply: FastifyReply,
    user: CurrentSession,
    status = 200,
    error?: DomainError,
  ) {
    const state = await mfa.status(user.userId);
    const token = csrf.tokenFor(request, reply);
    const codeField = (id: string) =>
      field('Code from your authenticator app', id, { autocomplete: 'one-time-code', inputmode: 'numeric' });
    const body = state.enabled
      ? html`<p>Two-step verification is <strong>on</strong>. Recovery codes left: ${state.recoveryCodesLeft}.</p>
<h2>Turn it off</h2>
<form method="post" action="/account/mfa/disable">${csrfField(token)}${field('Code from your authenticator app, or a recovery code', 'code', { autocomplete: 'one-time-code' })}<button type="submit" class="secondary">Turn off two-step verification</button></form>
<h2>New recovery codes</h2>
<form method="post" action="/account/mfa/recovery-codes">${csrfField(token)}${codeField('code')}<button type="submit">Make new recovery codes</button></form>`
      : html`<p>Two-step verification is <strong>off</strong>. Turn it on to ask for a code from an authenticator app at each sign-in.</p>
<form method="post" action="/account/mfa/enrol">${csrfField(token)}<button type="submit">Set up an authenticator app</button></form>`;
    return send(
      reply,
      status,
      'Two-step verification',
      html`${alert(error?.detail, error?.code)}${body}<p><a href="${HOME}">Your sessions</a></p>`,
    );
  }

  app.get('/account/mfa', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    return mfaSettings(request, reply, user);
  });

  app.post('/account/mfa/enrol', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    const result = await mfa.beginEnrolment(origin(request), user.userId, user.email);
    if (!result.ok) return mfaSettings(request, reply, user, statusOf(reply, result.error), result.error);
    return send(
      reply,
      200,
      'Set up your authenticator app',
      html`<p>Add this account to your authenticator app: open the link on your phone, or enter the key by hand. It is shown once.</p>
<p><a href="${result.value.uri}">Open in authenticator app</a></p>
<p>Key: <code id="totp-secret">${result.value.secret}</code></p>
<p>Link: <code id="totp-uri">${result.value.uri}</code></p>
<form method="post" action="/account/mfa/confirm">${csrfField(csrf.tokenFor(request, reply))}${field('The 6-digit code the app shows', 'code', { autocomplete: 'one-time-code', inputmode: 'numeric' })}<button type="submit">Turn on</button></form>`,
    );
  });

  function recoveryCodesPage(reply: FastifyReply, title: string, codes: readonly string[]) {
    return send(
      reply,
      200,
      title,
      html`<p>Keep these recovery codes somewhere safe. Each signs you in once if you lose your authenticator. They are shown only now.</p>
<ul id="recovery-codes">${codes.map((code) => html`<li><code>${code}</code></li>`)}</ul>
<p><a href="/account/mfa">Done</a></p>`,
    );
  }

  app.post('/account/mfa/confirm', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    const result = await mfa.confirmEnrolment(
      origin(request),
      user.userId,
      user.email,
      text(request.body as Body, 'code'),
    );
    if (!result.ok) {
      // The secret is not shown again: the user starts over, with a new one, if the code was lost.
      return send(
        reply,
        statusOf(reply, result.error),
        'Set up your authenticator app',
        html`${alert(result.error.detail, result.error.code)}
<form method="post" action="/account/mfa/confirm">${csrfField(csrf.tokenFor(request, reply))}${field('The 6-digit code the app shows', 'code', { autocomplete: 'one-time-code', inputmode: 'numeric' })}<button type="submit">Turn on</button></form>
<form method="post" action="/account/mfa/enrol">${csrfField(csrf.tokenFor(request, reply))}<button type="submit" class="secondary">Start again with a new key</button></form>`,
      );
    }
    return recoveryCodesPage(reply, 'Two-step verification is on', result.value.recoveryCodes);
  });

  app.post('/account/mfa/disable', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    const result = await mfa.disable(
      origin(request),
      user.userId,
      user.email,
      text(request.body as Body, 'code'),
    );
    if (!result.ok) return mfaSettings(request, reply, user, statusOf(reply, result.error), result.error);
    return reply.redirect('/account/mfa', 303);
  });

  app.post('/account/mfa/recovery-codes', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    const result = await mfa.regenerateRecoveryCodes(
      origin(request),
      user.userId,
      user.email,
      text(request.body as Body, 'code'),
    );
    if (!result.ok) return mfaSettings(request, reply, user, statusOf(reply, result.error), result.error);
    return recoveryCodesPage(reply, 'New recovery codes', result.value.recoveryCodes);
  });

  // --- Sessions and sign-out ------------------------------------------------------------------

  async function sessionsPage(
    request: FastifyRequest,
    reply: FastifyReply,
    user: CurrentSession,
    status = 200,
    error?: DomainError,
  ) {
    const list = await sessions.list(user.userId);
    const token = csrf.tokenFor(request, reply);
    return send(
      reply,
      status,
      'Your sessions',
      html`${alert(error?.detail, error?.code)}<p>Signed in as <strong>${user.email}</strong>.</p>
<table>
<thead><tr><th scope="col">Device</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last seen</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${list.map(
  (
    s,
  ) => html`<tr data-session="${s.id}"><td>${s.userAgent ?? 'Unknown device'}${s.id === user.sessionId ? html` <strong>(this one)</strong>` : ''}</td><td>${s.ip ?? ''}</td><td>${s.createdAt.toISOString()}</td><td>${s.lastSeenAt.toISOString()}</td>
<td><form method="post" action="/account/sessions/${s.id}/end">${csrfField(token)}<button type="submit" class="secondary" aria-label="Sign out ${s.userAgent ?? 'this device'}">Sign out</button></form></td></tr>`,
)}
</tbody>
</table>
<form method="post" action="/account/sessions/end-all">${csrfField(token)}<button type="submit">Sign out everywhere</button></form>
<p><a href="/account/mfa">Two-step verification</a></p>`,
    );
  }

  app.get('/account/sessions', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    return sessionsPage(request, reply, user);
  });

  app.post<{ Params: { id: string } }>(
    '/account/sessions/:id/end',
    { schema: { hide: true } },
    async (request, reply) => {
      const user = await signedIn(request, reply);
      if (user === undefined) return reply;
      const ended = await sessions.end(
        { actor: { type: 'user', id: user.userId }, requestId: request.id, sourceIp: request.ip },
        user.userId,
        request.params.id,
        request.params.id === user.sessionId ? 'signed_out' : 'ended_by_user',
      );
      if (!ended) {
        return sessionsPage(request, reply, user, 404, {
          code: 'session_not_found',
          detail: 'you have no live session with that id',
        });
      }
      if (request.params.id === user.sessionId) {
        sessions.clearCookie(reply);
        return reply.redirect('/sign-in', 303);
      }
      return reply.redirect('/account/sessions', 303);
    },
  );

  app.post('/account/sessions/end-all', { schema: { hide: true } }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === undefined) return reply;
    await sessions.endSessionsOf(
      user.userId,
      { actor: { type: 'user', id: user.userId }, requestId: request.id, sourceIp: request.ip },
      { reason: 'signed_out_everywhere' },
    );
    sessions.clearCookie(reply);
    return reply.redirect('/sign-in', 303);
  });

  app.get('/sign-out', { schema: { hide: true } }, async (request, reply) =>
    send(
      reply,
      200,
      'Sign out',
      html`<form method="post" action="/sign-out">${csrfField(csrf.tokenFor(request, reply))}<button type="submit">Sign out</button></form>`,
    ),
  );

  app.post('/sign-out', { schema: { hide: true } }, async (request, reply) => {
    const found = await sessions.find(request);
    if (found !== undefined) {
      await sessions.end(
        { actor: { type: 'user', id: found.userId }, requestId: request.id, sourceIp: request.ip },
        found.userId,
        found.id,
        'signed_out',
      );
    }
    sessions.clearCookie(reply);
    return reply.redirect('/sign-in', 303);
  });
};
