import type { DomainError, FieldError } from '@tenantry/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Origin, userContext } from '../accounts/index.ts';
import { type Html, html } from '../html.ts';
import type { SelfServeService, SelfServeSettings } from '../self-serve/index.ts';
import { alert, csrfField, field } from './html.ts';

type Body = Readonly<Record<string, unknown>>;

/** What the sign-up pages borrow from the hosted pages around them. */
export interface SignupPageContext {
  readonly selfServe: SelfServeService;
  readonly csrfToken: (request: FastifyRequest, reply: FastifyReply) => string;
  readonly send: (reply: FastifyReply, status: number, title: string, body: Html) => FastifyReply;
  readonly statusOf: (reply: FastifyReply, error: DomainError) => number;
  readonly origin: (request: FastifyRequest) => Origin;
  /** The signed-in user's id, or undefined when none (the caller has answered). */
  readonly signedInUser: (request: FastifyRequest) => Promise<string | undefined>;
}

function text(body: Body | undefined, name: string): string {
  const value = body?.[name];
  return typeof value === 'string' ? value : '';
}

function select(
  label: string,
  name: string,
  options: readonly string[],
  chosen: string | undefined,
  error?: string,
): Html {
  const id = `f-${name}`;
  const errorId = `${id}-error`;
  return html`<label for="${id}">${label}</label>
<select id="${id}" name="${name}"${error ? html` aria-invalid="true" aria-describedby="${errorId}"` : ''}>${options.map(
    (option) => html`<option value="${option}"${option === chosen ? html` selected` : ''}>${option}</option>`,
  )}</select>
${error ? html`<p class="error" id="${errorId}">${error}</p>` : ''}`;
}

/**
 * The start of self-serve sign-up (`/signup?plan=…`, docs/self-serve.md): a person who is not
 * signed in is sent to create an account and come back; a verified user without a trial names
 * their organisation and picks what the vendor offers; the trial is then provisioned, and the
 * owner is sent on to the portal's setup wizard. While it is provisioned, the page says so with a
 * link to continue: no timed refresh (WCAG 2.2.1: the person decides when the page changes).
 */
export function signupPages(app: FastifyInstance, c: SignupPageContext): void {
  function form(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    settings: SelfServeSettings,
    values: { name?: string; plan?: string; placement?: string; region?: string; error?: DomainError } = {},
  ) {
    const errors: readonly FieldError[] = values.error?.errors ?? [];
    const errorOf = (path: string) => errors.find((e) => e.path === path)?.message;
    const plan =
      values.plan !== undefined && settings.plans.includes(values.plan) ? values.plan : settings.plans[0];
    return c.send(
      reply,
      status,
      'Start your trial',
      html`${alert(errors.length === 0 ? values.error?.detail : undefined, values.error?.code)}
<form method="post" action="/signup" novalidate>
${csrfField(c.csrfToken(request, reply))}
${field('Organisation name', 'name', { value: values.name, error: errorOf('name'), autocomplete: 'organization' })}
${select('Plan', 'plan', settings.plans, plan)}
${settings.placements.length > 1 ? select('Where your data lives', 'placement', settings.placements, values.placement) : ''}
${settings.regions.length > 0 ? select('Region', 'region', settings.regions, values.region, errorOf('region')) : ''}
<button type="submit">Start my trial</button>
</form>`,
    );
  }

  function disabled(reply: FastifyReply) {
    return c.send(
      reply,
      403,
      'Sign-up is closed',
      alert('Self-serve sign-up is not open. Ask the vendor for an account.', 'self_serve_disabled'),
    );
  }

  /** Where a user with a trial goes: the wizard once it is ready, else a page that waits for it. */
  function trialPage(reply: FastifyReply, trial: { tenantId: string; state: string }) {
    if (trial.state === 'provisioning') {
      return c.send(
        reply,
        200,
        'Setting up your organisation',
        html`<p role="status">Your organisation is being set up. It takes a few seconds.</p>
<p><a href="/signup">Continue</a></p>`,
      );
    }
    if (trial.state === 'provisioning_failed') {
      return c.send(
        reply,
        409,
        'Setting up failed',
        alert(
          'Setting up your organisation failed. The vendor has been told; try again later.',
          'provisioning_failed',
        ),
      );
    }
    return reply.redirect('/portal/welcome', 303);
  }

  app.get('/signup', { schema: { hide: true } }, async (request, reply) => {
    const settings = await c.selfServe.selfServe();
    if (!settings.enabled) return disabled(reply);
    const plan = text(request.query as Body, 'plan');
    const userId = await c.signedInUser(request);
    if (userId === undefined) {
      // A new person creates an account first; the sign-up page links to sign in for one who has.
      const back = `/signup${plan === '' ? '' : `?plan=${encodeURIComponent(plan)}`}`;
      return reply.redirect(`/sign-up?return_to=${encodeURIComponent(back)}`, 303);
    }
    const trial = await c.selfServe.trialOf(userId);
    if (trial !== undefined) return trialPage(reply, trial);
    return form(request, reply, 200, settings, { plan });
  });

  app.post('/signup', { schema: { hide: true } }, async (request, reply) => {
    const userId = await c.signedInUser(request);
    if (userId === undefined) {
      return c.send(
        reply,
        401,
        'Sign in first',
        html`${alert('Your session has ended. Sign in again.', 'sign_in_required')}<p><a href="/sign-in?return_to=%2Fsignup">Sign in</a></p>`,
      );
    }
    const body = request.body as Body | undefined;
    const values = {
      name: text(body, 'name'),
      plan: text(body, 'plan'),
      placement: text(body, 'placement'),
      region: text(body, 'region'),
    };
    const started = await c.selfServe.startTrial(userContext(userId, c.origin(request)), userId, {
      name: values.name,
      plan: values.plan,
      placement: values.placement === '' ? undefined : values.placement,
      region: values.region === '' ? undefined : values.region,
    });
    if (!started.ok) {
      const settings = await c.selfServe.selfServe();
      if (started.error.code === 'self_serve_disabled') return disabled(reply);
      return form(request, reply, c.statusOf(reply, started.error), settings, {
        ...values,
        error: started.error,
      });
    }
    return reply.redirect('/signup', 303);
  });
}
