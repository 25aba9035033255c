import type { InjectOptions } from 'fastify';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { type AccountsApp, PASSWORD, startAccountsApp } from '../../test/hosted-support.ts';
import { systemContext } from '../request-context.ts';

const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

/** A vendor name that tries to add markup to the body and a header to the mail. */
const HOSTILE_NAME = 'Evil <img src=x onerror=alert(1)>"\r\nBcc: spy@evil.test';

let t: AccountsApp;
let operator: string;

beforeEach(async () => {
  t = await startAccountsApp();
  operator = (await t.services.apiKeys.create(systemContext('test'), { name: 'operator' })).secret;
});
afterEach(() => t.close());

async function api(options: InjectOptions & { method: string; url: string }) {
  const response = await t.app.inject({
    ...options,
    headers: { authorization: `Bearer ${operator}` },
  } as InjectOptions);
  return { status: response.statusCode, body: response.json() };
}

async function brand(payload: { product_name: string; color: string; logo: string | null }) {
  const put = await api({ method: 'PUT', url: '/v1/settings/branding', payload });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
}

/** The invitation mailed to `email` as an admin of a new tenant named `name`, on the starter plan. */
async function invitationTo(slug: string, name: string, email: string) {
  const ctx = systemContext('test');
  expect((await t.services.plans.apply(ctx, { source: PLANS, dryRun: false })).ok).toBe(true);
  const tenant = await t.services.tenants.create(ctx, {
    slug,
    name,
    plan: 'starter',
    placement: 'pool',
    seats: 5,
  });
  if (!tenant.ok) throw new Error(JSON.stringify(tenant.error));
  const invited = await t.services.members.invite(ctx, tenant.value.id, { email, role: 'admin' }, null);
  expect(invited.ok, JSON.stringify(invited)).toBe(true);
  const mail = t.smtp.latest(email);
  if (mail === undefined) throw new Error(`no invitation was mailed to ${email}`);
  return mail;
}

/** The mail's header block, as it went over SMTP, each folded header unfolded onto its line. */
function headersOf(raw: string): string {
  return (raw.split(/\r?\n\r?\n/)[0] ?? '').replace(/\r?\n[ \t]+/g, ' ');
}

test('the branding settings brand the mails: name in sender, subject and body, logo with its alt, colour on the button', async () => {
  await brand({ product_name: 'Brightly', color: '#1f4fd8', logo: PNG });
  const signedUp = await t.browser().submit('/sign-up', { email: 'ann@example.com', password: PASSWORD });
  expect(signedUp.status, signedUp.body).toBe(200);
  const mail = t.smtp.latest('ann@example.com');
  expect(mail?.subject).toBe('Verify your email for Brightly');
  // The vendor's name, the configured address.
  expect(headersOf(mail?.raw ?? '')).toMatch(/^From: Brightly <no-reply@acme\.test>$/m);
  expect(mail?.from).toBe('no-reply@acme.test');
  // The data: logo travels as an inline image part, named by its Content-ID: mail clients that
  // block data: URLs in images show it all the same.
  const cid = /<img src="cid:([^"]+)" alt="Brightly" height="40">/.exec(mail?.html ?? '')?.[1];
  expect(cid).toBeDefined();
  expect(mail?.html).not.toContain('data:image');
  expect(mail?.raw).toMatch(/^Content-Type: multipart\/related/m);
  const image = (mail?.raw ?? '').split(/\r?\n--/).find((p) => p.includes(`Content-ID: <${cid}>`)) ?? '';
  expect(image).toMatch(/^Content-Type: image\/png/m);
  const [, body = ''] = image.split(/\r?\n\r?\n/);
  expect(body.replace(/\s/g, '')).toBe(PNG.slice('data:image/png;base64,'.length));
  expect(mail?.html).toContain('background:#1f4fd8');
  expect(mail?.html).not.toContain('Acme Minutes');
  expect(mail?.text).toContain('Welcome to Brightly.');
  expect(mail?.text).not.toContain('data:image');

  // A change shows in the next mail, whatever kind: the invitation too.
  await brand({ product_name: 'Brightly Two', color: '#14532d', logo: null });
  const invitation = await invitationTo('globex', 'Globex', 'bob@example.com');
  expect(invitation.subject).toBe('You are invited to Globex on Brightly Two');
  expect(headersOf(invitation.raw)).toMatch(/^From: Brightly Two <no-reply@acme\.test>$/m);
  expect(invitation.html).toContain('background:#14532d');
  expect(invitation.html).not.toContain('<img');
});

test('attack: a hostile vendor name and tenant name add no markup to the body and no header to the mail', async () => {
  await brand({ product_name: HOSTILE_NAME, color: '#1f4fd8', logo: PNG });
  const mail = await invitationTo(
    'hostile',
    '<script>alert(1)</script>\r\nCc: spy@evil.test',
    'eve@example.com',
  );
  const headers = headersOf(mail.raw);
  expect(headers).not.toMatch(/^(Bcc|Cc):/im);
  // Only the invited person received it, from the configured address.
  expect(mail.to).toEqual(['eve@example.com']);
  expect(mail.from).toBe('no-reply@acme.test');
  expect(headers).toMatch(/^From: .*<no-reply@acme\.test>$/m);
  // The markup is text in the HTML part: escaped, in the body and in the logo's alt.
  expect(mail.html).not.toContain('<img src=x');
  expect(mail.html).not.toContain('<script>');
  expect(mail.html).toContain('Evil &lt;img src=x onerror=alert(1)&gt;&quot;');
  expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  expect(mail.html).toContain('alt="Evil &lt;img src=x onerror=alert(1)&gt;&quot; Bcc: spy@evil.test"');
  // In the text part each name stays on its line: no line of the body starts as a header would.
  expect(mail.text).not.toMatch(/^(Bcc|Cc):/m);
  expect(mail.text).toContain('join <script>alert(1)</script> Cc: spy@evil.test on Evil');
});

const PLANS = `
currency: usd
plans:
  starter:
    name: Starter
`;
