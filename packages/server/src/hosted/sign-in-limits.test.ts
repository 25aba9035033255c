import { afterEach, describe, expect, test } from 'vitest';
import {
  type AccountsApp,
  alertCode,
  auditTrail,
  type Browser,
  formOf,
  PASSWORD,
  type Page,
  startAccountsApp,
  verifiedUser,
} from '../../test/hosted-support.ts';
import { DEFAULT_SIGN_IN_LIMITS } from '../accounts/index.ts';

let t: AccountsApp;
afterEach(() => t.close());

const WRONG = 'not-the-password-1';
const WINDOW_S = DEFAULT_SIGN_IN_LIMITS.windowMs / 1000;

/** Posts the sign-in form of `browser`, from `ip`. */
async function attempt(browser: Browser, email: string, password: string, ip = '203.0.113.7'): Promise<Page> {
  const form = formOf((await browser.get('/sign-in')).body);
  return browser.request({
    method: 'POST',
    url: form.action,
    remoteAddress: ip,
    payload: new URLSearchParams({ ...form.hidden, email, password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

async function sessionCount(): Promise<number> {
  const rows = await t.services.database.db.selectFrom('sessions').select('id').execute();
  return rows.length;
}

describe('password sign-in attempts are limited', () => {
  test('past 10 wrong passwords for an email, every attempt is refused with 429 and Retry-After, the right password too, until the window passes', async () => {
    t = await startAccountsApp();
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    for (let i = 0; i < DEFAULT_SIGN_IN_LIMITS.perEmail; i++) {
      const page = await attempt(browser, 'ann@example.com', WRONG);
      expect(page.status, `attempt ${i + 1}`).toBe(401);
    }
    t.clock.advance(60_000);
    const limited = await attempt(browser, 'ann@example.com', PASSWORD);
    expect(limited.status).toBe(429);
    expect(alertCode(limited.body)).toBe('too_many_attempts');
    // The oldest failure counted leaves the window 14 minutes from now.
    expect(limited.headers['retry-after']).toBe(String(WINDOW_S - 60));
    expect(limited.headers['set-cookie']).toBeUndefined();
    expect(await sessionCount()).toBe(0);
    const trail = await auditTrail(t);
    expect(trail.at(-1)).toMatchObject({ action: 'user.sign_in_failed', actor_type: 'system' });
    expect(trail.at(-1)?.data).toMatchObject({ reason: 'rate_limited' });
    // Another address does not help: the email is limited wherever the guesses come from.
    expect((await attempt(t.browser(), 'ann@example.com', PASSWORD, '198.51.100.9')).status).toBe(429);

    t.clock.advance(DEFAULT_SIGN_IN_LIMITS.windowMs);
    const after = await attempt(browser, 'ann@example.com', PASSWORD);
    expect(after.status, after.body).toBe(303);
    expect(await sessionCount()).toBe(1);
  });

  test('an email no user has is limited exactly as one a user has: same status, same Retry-After, same page', async () => {
    t = await startAccountsApp();
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    const last: Page[] = [];
    for (const email of ['ann@example.com', 'nobody@example.com']) {
      for (let i = 0; i < DEFAULT_SIGN_IN_LIMITS.perEmail; i++) {
        expect((await attempt(browser, email, WRONG)).status).toBe(401);
      }
    }
    for (const email of ['ann@example.com', 'nobody@example.com']) {
      last.push(await attempt(browser, email, WRONG));
    }
    const [known, unknown] = last;
    expect(known?.status).toBe(429);
    expect(unknown?.status).toBe(429);
    expect(known?.headers['retry-after']).toBe(unknown?.headers['retry-after']);
    expect(known?.body).toBe(unknown?.body);
    // Neither the email tried nor its hash is in the audit log; the counter keeps only a hash.
    expect(JSON.stringify(await auditTrail(t))).not.toContain('nobody@example.com');
    const subjects = await t.services.database.db.selectFrom('sign_in_failures').select('subject').execute();
    expect(subjects.some((s) => s.subject.includes('@'))).toBe(false);
  });

  test('an email is counted without letter case or spaces: ANN@Example.com is ann@example.com', async () => {
    t = await startAccountsApp();
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    for (let i = 0; i < DEFAULT_SIGN_IN_LIMITS.perEmail; i++) {
      await attempt(browser, i % 2 === 0 ? ' ANN@Example.com' : 'ann@example.com', WRONG);
    }
    expect((await attempt(browser, 'Ann@example.COM', PASSWORD)).status).toBe(429);
  });

  test('right passwords do not count: a user who signs in often is never limited by it', async () => {
    t = await startAccountsApp();
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    for (let i = 0; i < DEFAULT_SIGN_IN_LIMITS.perEmail - 1; i++) {
      expect((await attempt(browser, 'ann@example.com', WRONG)).status).toBe(401);
    }
    for (let i = 0; i < 3; i++) {
      expect((await attempt(t.browser(), 'ann@example.com', PASSWORD)).status).toBe(303);
    }
    // The tenth failure is still allowed; the eleventh attempt is not.
    expect((await attempt(browser, 'ann@example.com', WRONG)).status).toBe(401);
    expect((await attempt(browser, 'ann@example.com', PASSWORD)).status).toBe(429);
  });

  test('one address guessing at many emails is limited per address; other addresses are not', async () => {
    t = await startAccountsApp({ signInLimits: { ...DEFAULT_SIGN_IN_LIMITS, perIp: 3 } });
    await verifiedUser(t, 'ann@example.com');
    const attacker = t.browser();
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
      expect((await attempt(attacker, email, WRONG, '203.0.113.66')).status).toBe(401);
    }
    const limited = await attempt(attacker, 'ann@example.com', PASSWORD, '203.0.113.66');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe(String(WINDOW_S));
    // Ann, from her own address, signs in.
    expect((await attempt(t.browser(), 'ann@example.com', PASSWORD, '198.51.100.20')).status).toBe(303);
  });

  test('concurrent guesses cannot slip past the limit together', async () => {
    t = await startAccountsApp();
    await verifiedUser(t, 'ann@example.com');
    const browsers = Array.from({ length: DEFAULT_SIGN_IN_LIMITS.perEmail + 5 }, () => t.browser());
    const forms = await Promise.all(browsers.map(async (b) => formOf((await b.get('/sign-in')).body)));
    const pages = await Promise.all(
      browsers.map((b, i) =>
        b.post(forms[i]?.action ?? '/sign-in', {
          ...forms[i]?.hidden,
          email: 'ann@example.com',
          password: WRONG,
        }),
      ),
    );
    const statuses = pages.map((p) => p.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(DEFAULT_SIGN_IN_LIMITS.perEmail);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
  });
});
