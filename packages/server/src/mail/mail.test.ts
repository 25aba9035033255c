import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { startSmtpSink } from '../../test/smtp-sink.ts';
import { type Brand, Mailer, type MailLog } from './index.ts';

const BRAND = { productName: 'Acme Minutes', color: '#123456', logoUrl: 'https://acme.test/logo.png' };
const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
let dir: string;
const mailers: Mailer[] = [];

beforeAll(async () => {
  smtp = await startSmtpSink();
  dir = await mkdtemp(join(tmpdir(), 'tenantry-mail-'));
});
afterEach(() => {
  for (const mailer of mailers.splice(0)) mailer.close();
});
afterAll(async () => {
  await smtp.close();
  await rm(dir, { recursive: true, force: true });
});

/** A log that keeps what it is given. */
function capture(): MailLog & {
  lines: { level: string; object: Record<string, unknown>; message: string }[];
} {
  const lines: { level: string; object: Record<string, unknown>; message: string }[] = [];
  return {
    lines,
    info: (object, message) => lines.push({ level: 'info', object, message }),
    error: (object, message) => lines.push({ level: 'error', object, message }),
  };
}

function mailer(
  settings: Partial<ConstructorParameters<typeof Mailer>[0]> = {},
  log?: MailLog,
  brand: () => Brand = () => BRAND,
): Mailer {
  const made = new Mailer(
    { smtpUrl: smtp.url, from: 'Acme <no-reply@acme.test>', templatesDir: undefined, ...settings },
    async () => brand(),
    log,
  );
  mailers.push(made);
  return made;
}

test('each mail goes out over SMTP, branded, from the configured sender', async () => {
  const m = mailer();
  expect(await m.sendVerification('ann@example.com', 'https://cp.test/verify-email?token=abc')).toBe('sent');
  expect(await m.sendInvitation('bob@example.com', 'https://cp.test/invitations/xyz', 'Globex')).toBe('sent');
  expect(await m.sendPasswordReset('cat@example.com', 'https://cp.test/reset-password?token=def')).toBe(
    'sent',
  );
  expect(await m.sendMfaChanged('dan@example.com', 'an authenticator app was added')).toBe('sent');

  const verification = smtp.latest('ann@example.com');
  expect(verification?.from).toBe('no-reply@acme.test');
  expect(verification?.subject).toBe('Verify your email for Acme Minutes');
  expect(verification?.text).toContain('https://cp.test/verify-email?token=abc');
  expect(verification?.html).toContain('<img src="https://acme.test/logo.png"');
  expect(verification?.html).toContain('color:#123456');
  expect(smtp.latest('bob@example.com')?.subject).toBe('You are invited to Globex on Acme Minutes');
  expect(smtp.latest('bob@example.com')?.text).toContain('https://cp.test/invitations/xyz');
  expect(smtp.latest('cat@example.com')?.text).toContain('valid for 1 hour');
  expect(smtp.latest('dan@example.com')?.text).toContain('an authenticator app was added');
});

test('values are escaped in HTML and cannot break the subject into headers', async () => {
  const m = mailer();
  expect(
    await m.sendInvitation('eve@example.com', 'https://cp.test/i', '<b>Globex</b>\r\nBcc: x@evil.test'),
  ).toBe('sent');
  const mail = smtp.latest('eve@example.com');
  expect(mail?.html).toContain('&lt;b&gt;Globex&lt;/b&gt;');
  expect(mail?.html).not.toContain('<b>Globex</b>');
  const headers = mail?.raw.split(/\r?\n\r?\n/)[0] ?? '';
  expect(headers).toMatch(/^Subject: You are invited to <b>Globex<\/b> Bcc: x@evil\.test on Acme Minutes$/m);
  expect(headers).not.toMatch(/^Bcc:/im);
  expect(mail?.to).toEqual(['eve@example.com']);
});

test('each mail reads the brand as it is when it goes: a change shows in the next mail', async () => {
  let brand: Brand = BRAND;
  const m = mailer({}, undefined, () => brand);
  await m.sendVerification('ida@example.com', 'https://cp.test/v?token=1');
  brand = { productName: 'Brightly', color: '#14532d', logoUrl: PNG };
  await m.sendVerification('jon@example.com', 'https://cp.test/v?token=2');
  expect(smtp.latest('ida@example.com')?.subject).toBe('Verify your email for Acme Minutes');
  const mail = smtp.latest('jon@example.com');
  expect(mail?.subject).toBe('Verify your email for Brightly');
  expect(mail?.raw).toMatch(/^From: Brightly <no-reply@acme\.test>$/m);
  expect(mail?.html).toMatch(/<img src="cid:[^"]+" alt="Brightly" height="40">/);
  expect(mail?.html).toContain('background:#14532d');
  // A data: URL is no link a reader of the text part can open.
  expect(mail?.text).not.toContain('data:');
});

test('a colour white text is unreadable on, or no colour at all, gives way to a dark one on the button', async () => {
  const brands: Brand[] = [
    { ...BRAND, color: '#ffff00' },
    { ...BRAND, color: 'red;background:url(https://evil.test/track)' },
  ];
  for (const [i, brand] of brands.entries()) {
    await mailer({}, undefined, () => brand).sendPasswordReset(`kim${i}@example.com`, 'https://cp.test/r');
    const html = smtp.latest(`kim${i}@example.com`)?.html ?? '';
    expect(html).toContain('background:#111827;color:#fff');
    expect(html).not.toContain('#ffff00');
    expect(html).not.toContain('evil.test');
  }
});

test('attack: a logo that is not an https or raster data: URL is left out rather than linked', async () => {
  const logos = [
    'javascript:alert(1)',
    'http://tracker.test/pixel.gif',
    `data:image/svg+xml;base64,${btoa('<svg/>')}`,
  ];
  for (const [i, logoUrl] of logos.entries()) {
    await mailer({}, undefined, () => ({ ...BRAND, logoUrl })).sendVerification(
      `lee${i}@example.com`,
      'https://cp.test/v',
    );
    const mail = smtp.latest(`lee${i}@example.com`);
    expect(mail?.html).not.toContain('<img');
    expect(mail?.text).not.toContain(logoUrl);
  }
});

test('a templates folder replaces the parts it holds; the rest stay as shipped', async () => {
  await writeFile(join(dir, 'verification.subject.txt'), 'Welcome aboard {{product}}!\n');
  await writeFile(join(dir, 'verification.txt'), 'Hi {{email}}, click {{url}}\n');
  const m = mailer({ templatesDir: dir });
  await m.sendVerification('fay@example.com', 'https://cp.test/v?token=1');
  const mail = smtp.latest('fay@example.com');
  expect(mail?.subject).toBe('Welcome aboard Acme Minutes!');
  expect(mail?.text).toContain('Hi fay@example.com, click https://cp.test/v?token=1');
  // The HTML part was not replaced: the shipped one, branded.
  expect(mail?.html).toContain('Verify email');
});

test('a template with a placeholder its mail does not fill is refused at start-up, naming it', async () => {
  const bad = await mkdtemp(join(tmpdir(), 'tenantry-mail-bad-'));
  await writeFile(join(bad, 'password_reset.txt'), 'Reset: {{url}} for {{tenant}}\n');
  expect(() => mailer({ templatesDir: bad })).toThrow(/password_reset\.txt uses \{\{tenant\}\}/);
  await rm(bad, { recursive: true, force: true });
});

test('without SMTP the link is logged (never a password) and the mail reported as logged', async () => {
  const log = capture();
  const m = mailer({ smtpUrl: undefined }, log);
  expect(m.status()).toEqual({ configured: false, from: 'Acme <no-reply@acme.test>', server: null });
  expect(await m.sendPasswordReset('gus@example.com', 'https://cp.test/reset-password?token=ghi')).toBe(
    'logged',
  );
  expect(log.lines).toEqual([
    {
      level: 'info',
      object: {
        mail: 'password_reset',
        to: 'gus@example.com',
        subject: 'Reset your Acme Minutes password',
        link: 'https://cp.test/reset-password?token=ghi',
      },
      message: expect.stringMatching(/not configured/),
    },
  ]);
});

test('an unreachable SMTP server fails the mail, logged as an error without the credentials', async () => {
  const log = capture();
  const m = mailer({ smtpUrl: 'smtp://user:s3cret-pw@127.0.0.1:1' }, log);
  expect(m.status()).toEqual({ configured: true, from: 'Acme <no-reply@acme.test>', server: '127.0.0.1:1' });
  expect(await m.sendVerification('hal@example.com', 'https://cp.test/v')).toBe('failed');
  expect(log.lines).toHaveLength(1);
  expect(log.lines[0]?.level).toBe('error');
  expect(JSON.stringify(log.lines)).not.toContain('s3cret-pw');
});

describe_status();

/** `GET /v1/mail` over the API, with its scope. */
function describe_status() {
  let t: TestApp;
  test('GET /v1/mail says mail is not configured (the test app has no SMTP), and needs mail:read', async () => {
    t = await startTestApp();
    try {
      const status = await t.request({ method: 'GET', url: '/v1/mail' });
      expect(status.status).toBe(200);
      expect(status.body).toEqual({ configured: false, from: 'Tenantry <no-reply@localhost>', server: null });
      const restricted = await t.request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: { name: 'no mail', scopes: ['tenants:read'] },
      });
      const refused = await t.request({
        method: 'GET',
        url: '/v1/mail',
        headers: { authorization: `Bearer ${restricted.body.secret}` },
      });
      expect(refused.status).toBe(403);
      expect(refused.body.required_scope).toBe('mail:read');
      const anonymous = await t.request({ method: 'GET', url: '/v1/mail', headers: { authorization: '' } });
      expect(anonymous.status).toBe(401);
    } finally {
      await t.close();
    }
  });
}
