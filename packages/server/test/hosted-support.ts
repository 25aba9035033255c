import type { FastifyInstance, InjectOptions } from 'fastify';
import { TOTP } from 'otpauth';
import { expect } from 'vitest';
import { buildApp } from '../src/http/app.ts';
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
