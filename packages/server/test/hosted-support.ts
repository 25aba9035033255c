import type { AuditAction } from '@tenantry/core';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { TOTP } from 'otpauth';
import { expect } from 'vitest';
import { buildApp } from '../src/http/app.ts';
import { systemContext } from '../src/request-context.ts';
import { createServices, type ServiceSettings, type Services } from '../src/services.ts';
import { createTestDatabase, SETTINGS, TestClock, type TestDatabase } from './harness.ts';
import { startSmtpSink } from './smtp-sink.ts';

/** A page as the browser got it. */
export interface Page {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, unknown>;
  /** Where a redirect points. */
  readonly location: string | undefined;
}

/**
 * A browser over `app.inject`: keeps the cookies the server sets and sends them back, and fills
 * forms with the CSRF token of the page they are on, as a person with a browser would.
 */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly #app: FastifyInstance;
  readonly userAgent: string;

  constructor(app: FastifyInstance, userAgent = 'Mozilla/5.0 (TestBrowser)') {
    this.#app = app;
    this.userAgent = userAgent;
  }

  #cookieHeader(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(options: InjectOptions & { method: string; url: string }): Promise<Page> {
    const cookie = this.#cookieHeader();
    const response = await this.#app.inject({
      ...options,
      headers: {
        'user-agent': this.userAgent,
        ...(cookie ? { cookie } : {}),
        ...(options.headers as Record<string, string> | undefined),
      },
    } as InjectOptions);
    const set = response.headers['set-cookie'];
    for (const line of set === undefined ? [] : Array.isArray(set) ? set : [set]) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const location = response.headers.location;
    return {
      status: response.statusCode,
      body: response.body,
      headers: response.headers as Record<string, unknown>,
      location: typeof location === 'string' ? location : undefined,
    };
  }

  get(url: string): Promise<Page> {
    return this.request({ method: 'GET', url });
  }

  /** Posts a form as it is: `fields` exactly (no CSRF token added). */
  post(
    url: string,
    fields: Readonly<Record<string, string>>,
    headers: Record<string, string> = {},
  ): Promise<Page> {
    return this.request({
      method: 'POST',
      url,
      payload: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });
  }

  /**
   * Opens `pageUrl`, takes the CSRF token of its form posting to `action` (the page's first form
   * when not given) and posts `fields` with it, as a person filling in the form would.
   */
  async submit(pageUrl: string, fields: Readonly<Record<string, string>>, action?: string): Promise<Page> {
    const page = await this.get(pageUrl);
    expect(page.status, `GET ${pageUrl}: ${page.body}`).toBe(200);
    const form = formOf(page.body, action);
    return this.post(form.action, { ...form.hidden, ...fields });
  }
}

/** The first form of `html` (or the one posting to `action`): its action and hidden fields. */
export function formOf(html: string, action?: string): { action: string; hidden: Record<string, string> } {
  const forms = [...html.matchAll(/<form method="post" action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = action === undefined ? forms[0] : forms.find((f) => f[1] === action);
  if (form === undefined) throw new Error(`no form${action ? ` posting to ${action}` : ''} in ${html}`);
  const hidden: Record<string, string> = {};
  for (const input of (form[2] ?? '').matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    hidden[input[1] ?? ''] = unescapeHtml(input[2] ?? '');
  }
  return { action: unescapeHtml(form[1] ?? ''), hidden };
}

function unescapeHtml(value: string): string {
  return value
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

/** The `data-code` of the page's alert: the error code it shows. */
export function alertCode(html: string): string | undefined {
  return /role="alert" data-code="([a-z_]+)"/.exec(html)?.[1];
}

export interface AccountsApp {
  readonly app: FastifyInstance;
  readonly services: Services;
  readonly clock: TestClock;
  readonly db: TestDatabase;
  readonly smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  browser(userAgent?: string): Browser;
  close(): Promise<void>;
}

/**
 * A control plane whose mail goes to a real local SMTP sink, for the hosted pages' tests.
 * `settings` adds to the test settings (e.g. an https public URL for Secure cookies).
 */
export async function startAccountsApp(settings: Partial<ServiceSettings> = {}): Promise<AccountsApp> {
  const smtp = await startSmtpSink();
  const db = await createTestDatabase();
  const clock = new TestClock();
  const services = createServices(
    db.database,
    {
      ...SETTINGS,
      publicUrl: 'http://localhost:8080',
      mail: { smtpUrl: smtp.url, from: 'Acme <no-reply@acme.test>', templatesDir: undefined },
      brand: { productName: 'Acme Minutes', color: '#123456', logoUrl: 'https://acme.test/logo.png' },
      ...settings,
    },
    clock,
  );
  const app = await buildApp(services, { logger: process.env.HOSTED_DEBUG ? { level: 'error' } : false });
  return {
    app,
    services,
    clock,
    db,
    smtp,
    browser: (userAgent) => new Browser(app, userAgent),
    async close() {
      await app.close();
      services.mailer.close();
      await db.drop();
      await smtp.close();
    },
  };
}

/** A strong password no dictionary knows. */
export const PASSWORD = 'violet-kettle-sonata-49';

/** Signs up through the pages and follows the mailed link: a verified user, not signed in. */
export async function verifiedUser(t: AccountsApp, email: string, password = PASSWORD): Promise<void> {
  const browser = t.browser();
  const signedUp = await browser.submit('/sign-up', { email, name: 'Ann Example', password });
  expect(signedUp.status, signedUp.body).toBe(200);
  const link = t.smtp.link(email, /Verify/);
  const verified = await browser.submit(link, {});
  expect(verified.status, verified.body).toBe(200);
}

/** Signs `browser` in (no MFA): expects the redirect home. */
export async function signIn(browser: Browser, email: string, password = PASSWORD): Promise<Page> {
  const page = await browser.submit('/sign-in', { email, password });
  expect(page.status, page.body).toBe(303);
  return page;
}

/** The TOTP code of `secret` (base32) at the clock's time plus `offsetSteps` steps of 30 s. */
export function totpCode(secret: string, clock: TestClock, offsetSteps = 0): string {
  return new TOTP({ secret, algorithm: 'SHA1', digits: 6, period: 30 }).generate({
    timestamp: clock.now().getTime() + offsetSteps * 30_000,
  });
}

/** Enrols MFA for the signed-in `browser`: returns the TOTP secret and the recovery codes. */
export async function enrolMfa(
  t: AccountsApp,
  browser: Browser,
): Promise<{ secret: string; recoveryCodes: string[] }> {
  const started = await browser.submit('/account/mfa', {}, '/account/mfa/enrol');
  expect(started.status, started.body).toBe(200);
  const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(started.body)?.[1];
  if (secret === undefined) throw new Error(`no TOTP secret on ${started.body}`);
  const form = formOf(started.body, '/account/mfa/confirm');
  const confirmed = await browser.post(form.action, { ...form.hidden, code: totpCode(secret, t.clock) });
  expect(confirmed.status, confirmed.body).toBe(200);
  const recoveryCodes = [...confirmed.body.matchAll(/<li><code>([0-9a-z-]+)<\/code><\/li>/g)].map(
    (m) => m[1] ?? '',
  );
  return { secret, recoveryCodes };
}

/** Every audit entry's action, target and actor, oldest first. */
export async function auditTrail(t: AccountsApp) {
  return t.services.database.db
    .selectFrom('audit_events')
    .select(['action', 'target_type', 'target_id', 'actor_type', 'actor_id', 'data', 'source_ip'])
    .orderBy('chain_id')
    .orderBy('seq')
    .execute();
}

/** The rows of every accounts table and the audit log, to show that a refused request wrote nothing. */
export async function accountState(t: AccountsApp): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [
    'users',
    'user_passwords',
    'user_links',
    'sessions',
    'user_totp',
    'user_recovery_codes',
    'audit_events',
  ] as const) {
    const row = await t.services.database.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

/**
 * The hosted pages' mutating routes for the walk of every mutation (changes/every-mutation-recorded):
 * for each, a fixture that performs it through the pages, as a browser would, and returns its
 * request id; and the actions it must record. Mail is not configured in the walk's app: links are
 * read from the mailer's log.
 */
export function hostedWalk(target: {
  app: FastifyInstance;
  services: Services;
  clock: TestClock;
}): Record<keyof typeof HOSTED_WALK_RECORDS, () => Promise<string>> {
  const { app, services, clock } = target;
  const links: { to: string; link: string }[] = [];
  services.mailer.useLog({
    info: (object) => {
      if (typeof object.link === 'string')
        links.push({
          to: String(object.to),
          link: new URL(object.link).pathname + new URL(object.link).search,
        });
    },
    error: () => {
      throw new Error('the walk sends no mail that can fail');
    },
  });
  const linkTo = (email: string, path: string) => {
    const found = links.findLast((l) => l.to === email && l.link.startsWith(path));
    if (found === undefined) throw new Error(`no ${path} link for ${email}`);
    return found.link;
  };
  let counter = 0;
  const id = () => {
    counter += 1;
    return `walk-hosted-${counter}`;
  };
  /** Fills the form on `page` posting to `action` and sends it with a request id to look the change up by. */
  const send = async (
    browser: Browser,
    page: string,
    action: string | undefined,
    fields: Record<string, string>,
  ) => {
    const requestId = id();
    const shown = await browser.get(page);
    expect(shown.status, `GET ${page}: ${shown.body}`).toBe(200);
    const form = formOf(shown.body, action);
    const sent = await browser.post(
      form.action,
      { ...form.hidden, ...fields },
      { 'x-request-id': requestId },
    );
    expect(sent.status, `POST ${form.action}: ${sent.body}`).toBeLessThan(400);
    return { requestId, page: sent };
  };
  const fresh = async (): Promise<{ email: string; browser: Browser }> => {
    const email = `walk-${id()}@example.com`;
    const browser = new Browser(app);
    await send(browser, '/sign-up', undefined, { email, password: PASSWORD });
    await send(browser, linkTo(email, '/verify-email'), undefined, {});
    await send(browser, '/sign-in', undefined, { email, password: PASSWORD });
    return { email, browser };
  };
  const withMfa = async () => {
    const user = await fresh();
    const started = await send(user.browser, '/account/mfa', '/account/mfa/enrol', {});
    const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(started.page.body)?.[1] ?? '';
    const form = formOf(started.page.body, '/account/mfa/confirm');
    const confirmed = await user.browser.post(form.action, { ...form.hidden, code: totpCode(secret, clock) });
    expect(confirmed.status).toBe(200);
    clock.advance(30_000);
    return { ...user, secret };
  };
  return {
    'POST /sign-up': async () =>
      (
        await send(new Browser(app), '/sign-up', undefined, {
          email: `walk-${id()}@example.com`,
          password: PASSWORD,
        })
      ).requestId,
    'POST /verify-email': async () => {
      const email = `walk-${id()}@example.com`;
      const browser = new Browser(app);
      await send(browser, '/sign-up', undefined, { email, password: PASSWORD });
      return (await send(browser, linkTo(email, '/verify-email'), undefined, {})).requestId;
    },
    'POST /sign-in': async () => {
      const { email } = await fresh();
      return (await send(new Browser(app), '/sign-in', undefined, { email, password: PASSWORD })).requestId;
    },
    'POST /mfa': async () => {
      const user = await withMfa();
      const browser = new Browser(app);
      await send(browser, '/sign-in', undefined, { email: user.email, password: PASSWORD });
      return (await send(browser, '/mfa', undefined, { code: totpCode(user.secret, clock) })).requestId;
    },
    'POST /forgot-password': async () =>
      (await send(new Browser(app), '/forgot-password', undefined, { email: (await fresh()).email }))
        .requestId,
    'POST /reset-password': async () => {
      const { email } = await fresh();
      await send(new Browser(app), '/forgot-password', undefined, { email });
      return (
        await send(new Browser(app), linkTo(email, '/reset-password'), undefined, {
          password: 'harbour-lantern-quince-83',
        })
      ).requestId;
    },
    'POST /account/mfa/enrol': async () =>
      (await send((await fresh()).browser, '/account/mfa', '/account/mfa/enrol', {})).requestId,
    'POST /account/mfa/confirm': async () => {
      const { browser } = await fresh();
      const started = await send(browser, '/account/mfa', '/account/mfa/enrol', {});
      const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(started.page.body)?.[1] ?? '';
      const form = formOf(started.page.body, '/account/mfa/confirm');
      const requestId = id();
      const confirmed = await browser.post(
        form.action,
        { ...form.hidden, code: totpCode(secret, clock) },
        { 'x-request-id': requestId },
      );
      expect(confirmed.status).toBe(200);
      return requestId;
    },
    'POST /account/mfa/disable': async () => {
      const user = await withMfa();
      return (
        await send(user.browser, '/account/mfa', '/account/mfa/disable', {
          code: totpCode(user.secret, clock),
        })
      ).requestId;
    },
    'POST /account/mfa/recovery-codes': async () => {
      const user = await withMfa();
      return (
        await send(user.browser, '/account/mfa', '/account/mfa/recovery-codes', {
          code: totpCode(user.secret, clock),
        })
      ).requestId;
    },
    'POST /account/sessions/:id/end': async () => {
      const { browser } = await fresh();
      const page = await browser.get('/account/sessions');
      const action = /action="(\/account\/sessions\/ses_[0-9a-z]+\/end)"/.exec(page.body)?.[1];
      return (await send(browser, '/account/sessions', action, {})).requestId;
    },
    'POST /account/sessions/end-all': async () =>
      (await send((await fresh()).browser, '/account/sessions', '/account/sessions/end-all', {})).requestId,
    'POST /sign-out': async () => (await send((await fresh()).browser, '/sign-out', undefined, {})).requestId,
    'POST /signup': async () => {
      const opened = await services.selfServe.updateSelfServe(systemContext('walk'), {
        enabled: true,
        plans: ['starter'],
        placements: ['pool'],
        regions: [],
        app_url: null,
        trial_days: 14,
      });
      if (!opened.ok) throw new Error(JSON.stringify(opened.error));
      const { browser } = await fresh();
      return (await send(browser, '/signup', '/signup', { name: 'Walk trial', plan: 'starter' })).requestId;
    },
    'POST /sign-in/invitation': async () => {
      const { email, browser } = await fresh();
      const ctx = systemContext('walk');
      // The walk's plan file has a plan `starter`.
      const tenant = await services.tenants.create(ctx, {
        slug: id(),
        name: 'Walk',
        plan: 'starter',
        placement: 'pool',
        seats: 5,
      });
      if (!tenant.ok) throw new Error(JSON.stringify(tenant.error));
      const invited = await services.members.invite(ctx, tenant.value.id, { email, role: 'member' }, null);
      if (!invited.ok) throw new Error(JSON.stringify(invited.error));
      const link = new URL(invited.value.invitation_url);
      return (await send(browser, `${link.pathname}${link.search}`, '/sign-in/invitation', {})).requestId;
    },
  };
}

/** What each hosted page's post must record, for the walk of every mutation. */
export const HOSTED_WALK_RECORDS = {
  'POST /sign-up': ['user.signed_up'],
  'POST /verify-email': ['user.email_verified'],
  'POST /sign-in': ['user.signed_in'],
  'POST /mfa': ['user.signed_in'],
  'POST /forgot-password': ['user.password_reset_requested'],
  'POST /reset-password': ['user.password_reset', 'session.ended'],
  'POST /account/mfa/enrol': ['user.mfa_enrolment_started'],
  'POST /account/mfa/confirm': ['user.mfa_enrolled'],
  'POST /account/mfa/disable': ['user.mfa_disabled'],
  'POST /account/mfa/recovery-codes': ['user.recovery_codes_regenerated'],
  'POST /account/sessions/:id/end': ['session.ended'],
  'POST /account/sessions/end-all': ['session.ended'],
  'POST /sign-out': ['session.ended'],
  'POST /sign-in/invitation': ['member.joined'],
  'POST /signup': ['tenant.created', 'signup.trial_started'],
} as const satisfies Record<string, readonly AuditAction[]>;
