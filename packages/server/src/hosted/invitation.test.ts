import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type AccountsApp,
  alertCode,
  auditTrail,
  type Browser,
  formOf,
  PASSWORD,
  signIn,
  startAccountsApp,
  verifiedUser,
} from '../../test/hosted-support.ts';
import { systemContext } from '../request-context.ts';
import { maskEmail } from './hosted-routes.ts';
import { redactLinkTokens } from './return-to.ts';

const PLANS = `
currency: usd
plans:
  starter:
    name: Starter
`;

let t: AccountsApp;
let tenantId: string;

beforeEach(async () => {
  t = await startAccountsApp();
  const ctx = systemContext('test');
  const applied = await t.services.plans.apply(ctx, { source: PLANS, dryRun: false });
  expect(applied.ok, JSON.stringify(applied)).toBe(true);
  const tenant = await t.services.tenants.create(ctx, {
    slug: 'globex',
    name: 'Globex Corp',
    plan: 'starter',
    placement: 'pool',
    seats: 5,
  });
  if (!tenant.ok) throw new Error(JSON.stringify(tenant.error));
  tenantId = tenant.value.id;
});
afterEach(() => t.close());

/** Invites `email` as an operator would, and answers the link's path (as the mail carries it). */
async function invite(email: string, role = 'admin', expiresInHours?: number): Promise<string> {
  const invited = await t.services.members.invite(
    systemContext('test'),
    tenantId,
    { email, role, expiresInHours },
    null,
  );
  if (!invited.ok) throw new Error(JSON.stringify(invited.error));
  const url = new URL(invited.value.invitation_url);
  expect(url.pathname).toBe('/sign-in/invitation');
  return `${url.pathname}${url.search}`;
}

async function memberships(): Promise<{ user_id: string; role: string }[]> {
  return t.services.database.db
    .selectFrom('memberships')
    .select(['user_id', 'role'])
    .where('tenant_id', '=', tenantId)
    .execute();
}

async function userId(email: string): Promise<string> {
  const row = await t.services.database.db
    .selectFrom('users')
    .select('id')
    .where('email_key', '=', email)
    .executeTakeFirstOrThrow();
  return row.id;
}

async function signedInAs(email: string): Promise<Browser> {
  await verifiedUser(t, email);
  const browser = t.browser();
  await signIn(browser, email);
  return browser;
}

describe('the invitation page', () => {
  test('the invited user, signed in, sees the tenant and role, joins with one button, and the audit has member.joined', async () => {
    const browser = await signedInAs('ann@example.com');
    const link = await invite('ann@example.com', 'admin');
    const page = await browser.get(link);
    expect(page.status, page.body).toBe(200);
    expect(page.body).toContain('<strong id="tenant">Globex Corp</strong>');
    expect(page.body).toContain('<strong id="role">admin</strong>');
    // Opening the link accepted nothing.
    expect(await memberships()).toEqual([]);

    const joined = await browser.submit(link, {}, '/sign-in/invitation');
    expect(joined.status, joined.body).toBe(200);
    expect(joined.body).toContain('You joined Globex Corp');
    const ann = await userId('ann@example.com');
    expect(await memberships()).toEqual([{ user_id: ann, role: 'admin' }]);
    const entry = (await auditTrail(t)).find((e) => e.action === 'member.joined');
    expect(entry).toMatchObject({ actor_type: 'user', actor_id: ann, target_type: 'member' });
    expect(entry?.data).toMatchObject({ tenant_id: tenantId, user_id: ann, role: 'admin' });
    // The link's token never reaches the audit log.
    const token = new URL(link, 'http://x').searchParams.get('token') ?? '';
    expect(JSON.stringify(await auditTrail(t))).not.toContain(token);
  });

  test('with an OpenID return path, joining goes back there', async () => {
    const browser = await signedInAs('ann@example.com');
    const link = await invite('ann@example.com');
    const joined = await browser.submit(
      `${link}&return_to=${encodeURIComponent('/authorize?client_id=minutes&state=s')}`,
      {},
      '/sign-in/invitation',
    );
    expect(joined.status, joined.body).toBe(303);
    expect(joined.location).toBe('/authorize?client_id=minutes&state=s');
    expect(await memberships()).toHaveLength(1);
  });

  test('not signed in: links to sign in and to sign up (the address prefilled), both coming back to the page', async () => {
    await verifiedUser(t, 'ann@example.com');
    const link = await invite('ann@example.com', 'member');
    const browser = t.browser();
    const page = await browser.get(link);
    expect(page.status, page.body).toBe(200);
    expect(page.body).toContain('Globex Corp');
    expect(page.body).not.toContain('action="/sign-in/invitation"');
    const hrefs = [...page.body.matchAll(/href="([^"]+)"/g)].map((m) =>
      (m[1] ?? '').replaceAll('&amp;', '&'),
    );
    const signInHref = hrefs.find((h) => h.startsWith('/sign-in?'));
    const signUpHref = hrefs.find((h) => h.startsWith('/sign-up?'));
    expect(new URL(signInHref ?? '', 'http://x').searchParams.get('return_to')).toBe(link);
    expect(new URL(signUpHref ?? '', 'http://x').searchParams.get('return_to')).toBe(link);
    const signUp = await browser.get(signUpHref ?? '');
    expect(signUp.body).toContain('value="ann@example.com"');
    expect(formOf(signUp.body).hidden.return_to).toBe(link);

    // Signing in from the link comes back to the page, where the user joins.
    const signedIn = await browser.submit(signInHref ?? '', { email: 'ann@example.com', password: PASSWORD });
    expect(signedIn.status, signedIn.body).toBe(303);
    expect(signedIn.location).toBe(link);
    const joined = await browser.submit(link, {}, '/sign-in/invitation');
    expect(joined.status, joined.body).toBe(200);
    expect(await memberships()).toEqual([{ user_id: await userId('ann@example.com'), role: 'member' }]);
  });

  test('someone invited before having an account signs up from the link, sets a password through the mailed link, and joins', async () => {
    const link = await invite('new@example.com');
    const browser = t.browser();
    const page = await browser.get(link);
    const signUpHref = /href="(\/sign-up\?[^"]+)"/.exec(page.body)?.[1]?.replaceAll('&amp;', '&') ?? '';
    const checkMail = await browser.submit(signUpHref, { email: 'new@example.com', password: PASSWORD });
    expect(checkMail.status, checkMail.body).toBe(200);
    // The link is not proof of the address: its inviter saw it too. So no session yet, and the
    // address is proved by mail as for anyone else.
    expect(browser.cookies.has('tenantry_session')).toBe(false);
    const back =
      /href="(\/sign-in\?return_to=[^"]+)"/.exec(checkMail.body)?.[1]?.replaceAll('&amp;', '&') ?? '';
    expect(new URL(back, 'http://x').searchParams.get('return_to')).toBe(link);
    const setPassword = await t.browser().submit(t.smtp.link('new@example.com', /password/i), {
      password: PASSWORD,
    });
    expect(setPassword.status, setPassword.body).toBe(200);
    const signedIn = await browser.submit(back, { email: 'new@example.com', password: PASSWORD });
    expect(signedIn.location).toBe(link);
    const joined = await browser.submit(link, {}, '/sign-in/invitation');
    expect(joined.status, joined.body).toBe(200);
    expect(await memberships()).toHaveLength(1);
  });

  test('signed in as another user: a page saying whom it is for, and nothing is accepted, even when posted', async () => {
    await verifiedUser(t, 'ann@example.com');
    const link = await invite('ann@example.com');
    const bob = await signedInAs('bob@example.com');
    const page = await bob.get(link);
    expect(page.status).toBe(403);
    expect(alertCode(page.body)).toBe('invitation_mismatch');
    expect(page.body).toContain('This invitation is for a…@example.com');
    expect(page.body).not.toContain('ann@example.com');
    expect(page.body).not.toContain('action="/sign-in/invitation"');
    // Bob posts the token himself, with his own valid CSRF token.
    const csrf = formOf((await bob.get('/sign-out')).body).hidden._csrf ?? '';
    const token = new URL(link, 'http://x').searchParams.get('token') ?? '';
    const posted = await bob.post('/sign-in/invitation', { _csrf: csrf, token });
    expect(posted.status).toBe(403);
    expect(alertCode(posted.body)).toBe('invitation_mismatch');
    expect(await memberships()).toEqual([]);
    // Still open for Ann.
    const ann = t.browser();
    await signIn(ann, 'ann@example.com');
    expect((await ann.submit(link, {}, '/sign-in/invitation')).status).toBe(200);
  });

  test('a used link is refused on a second visit and a second post, naming no tenant', async () => {
    const browser = await signedInAs('ann@example.com');
    const link = await invite('ann@example.com');
    const form = formOf((await browser.get(link)).body, '/sign-in/invitation');
    expect((await browser.post(form.action, form.hidden)).status).toBe(200);
    const again = await browser.get(link);
    expect(again.status).toBe(409);
    expect(alertCode(again.body)).toBe('invitation_used');
    expect(again.body).not.toContain('Globex');
    const replayed = await browser.post(form.action, form.hidden);
    expect(replayed.status).toBe(409);
    expect(alertCode(replayed.body)).toBe('invitation_used');
    expect(replayed.body).not.toContain('Globex');
    expect(await memberships()).toHaveLength(1);
  });

  test('an expired link is refused, on the page and when posted from a page opened before', async () => {
    const browser = await signedInAs('ann@example.com');
    const link = await invite('ann@example.com', 'admin', 1);
    const form = formOf((await browser.get(link)).body, '/sign-in/invitation');
    t.clock.advance(3_600_000);
    const page = await browser.get(link);
    expect(page.status).toBe(409);
    expect(alertCode(page.body)).toBe('invitation_expired');
    expect(page.body).not.toContain('Globex');
    const posted = await browser.post(form.action, form.hidden);
    expect(posted.status).toBe(409);
    expect(alertCode(posted.body)).toBe('invitation_expired');
    expect(await memberships()).toEqual([]);
  });

  test('a revoked link is refused, on the page and when posted', async () => {
    const browser = await signedInAs('ann@example.com');
    const link = await invite('ann@example.com');
    const form = formOf((await browser.get(link)).body, '/sign-in/invitation');
    const open = await t.services.database.db
      .selectFrom('invitations')
      .select('id')
      .executeTakeFirstOrThrow();
    const revoked = await t.services.members.revokeInvitation(systemContext('test'), tenantId, open.id, null);
    expect(revoked.ok).toBe(true);
    const page = await browser.get(link);
    expect(page.status).toBe(409);
    expect(alertCode(page.body)).toBe('invitation_revoked');
    expect(page.body).not.toContain('Globex');
    const posted = await browser.post(form.action, form.hidden);
    expect(alertCode(posted.body)).toBe('invitation_revoked');
    expect(await memberships()).toEqual([]);
  });

  test('an unknown or mistyped token gets a 404 page naming nothing', async () => {
    const browser = await signedInAs('ann@example.com');
    const link = await invite('ann@example.com');
    const mistyped = `${link.slice(0, -1)}${link.endsWith('A') ? 'B' : 'A'}`;
    for (const url of [mistyped, '/sign-in/invitation?token=nope', '/sign-in/invitation']) {
      const page = await browser.get(url);
      expect(page.status, url).toBe(404);
      expect(alertCode(page.body)).toBe('invitation_not_found');
      expect(page.body).not.toContain('Globex');
      expect(page.body).not.toContain('ann@example.com');
    }
  });

  test('a post without the CSRF token, or with another browser’s, accepts nothing', async () => {
    const browser = await signedInAs('ann@example.com');
    const link = await invite('ann@example.com');
    const form = formOf((await browser.get(link)).body, '/sign-in/invitation');
    const missing = await browser.post(form.action, { token: form.hidden.token ?? '' });
    expect(missing.status).toBe(403);
    expect(alertCode(missing.body)).toBe('csrf_token_invalid');
    const other = t.browser();
    const foreign = formOf((await other.get('/sign-in')).body).hidden._csrf ?? '';
    const forged = await browser.post(form.action, { ...form.hidden, _csrf: foreign });
    expect(forged.status).toBe(403);
    expect(await memberships()).toEqual([]);
    expect((await auditTrail(t)).some((e) => e.action === 'member.joined')).toBe(false);
  });

  test('a tenant name with markup is shown as text, not run', async () => {
    const ctx = systemContext('test');
    const evil = await t.services.tenants.create(ctx, {
      slug: 'evil',
      name: '<img src=x onerror=alert(1)>',
      plan: 'starter',
      placement: 'pool',
      seats: 5,
    });
    if (!evil.ok) throw new Error(JSON.stringify(evil.error));
    const invited = await t.services.members.invite(
      ctx,
      evil.value.id,
      { email: 'ann@example.com', role: 'member' },
      null,
    );
    if (!invited.ok) throw new Error(JSON.stringify(invited.error));
    const url = new URL(invited.value.invitation_url);
    const page = await t.browser().get(`${url.pathname}${url.search}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('<img src=x');
    expect(page.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  test('a post without a session is refused with sign_in_required', async () => {
    const link = await invite('ann@example.com');
    const browser = t.browser();
    const csrf = formOf((await browser.get('/sign-in')).body).hidden._csrf ?? '';
    const token = new URL(link, 'http://x').searchParams.get('token') ?? '';
    const posted = await browser.post('/sign-in/invitation', { _csrf: csrf, token });
    expect(posted.status).toBe(401);
    expect(alertCode(posted.body)).toBe('sign_in_required');
    expect(await memberships()).toEqual([]);
  });
});

describe('helpers', () => {
  test('maskEmail keeps the first letter and the domain', () => {
    expect(maskEmail('ann@example.com')).toBe('a…@example.com');
    expect(maskEmail('@x')).toBe('…');
  });

  test('redactLinkTokens also redacts a token inside an encoded return_to', () => {
    expect(redactLinkTokens('/sign-in/invitation?token=abc_-1&return_to=%2Fx')).toBe(
      '/sign-in/invitation?token=[redacted]&return_to=%2Fx',
    );
    expect(
      redactLinkTokens('/sign-in?return_to=%2Fsign-in%2Finvitation%3Ftoken%3Dabc_-1%26return_to%3D%252Fa'),
    ).toBe('/sign-in?return_to=%2Fsign-in%2Finvitation%3Ftoken%3D[redacted]%26return_to%3D%252Fa');
  });
});
