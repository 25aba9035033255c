// The operator console's Plans section in a real browser, on both backends: an operator opens the
// plans, reads a plan's versions, diffs two of them, then edits the plan file: a first version of
// it has an error, which the page shows at its line; the fixed file's dry run shows the diff and
// the impact (a tenant over a lowered limit, a tenant paying more); applied behind the typed
// words, the new version shows. Every page has no serious or critical axe violation and the tab
// no console error.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans, fixture, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
import { accessible, eventually, operatorConsole, startRig, stopRig } from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;

const FIXTURE = fixture('plans.yaml');

function replaceOnce(text: string, from: string, to: string): string {
  expect(text.split(from)).toHaveLength(2);
  return text.replace(from, to);
}

/** The 1-based line of the first occurrence of `needle` in `text`. */
function lineOf(text: string, needle: string): number {
  const offset = text.indexOf(needle);
  expect(offset).toBeGreaterThanOrEqual(0);
  return text.slice(0, offset).split('\n').length;
}

beforeAll(async () => {
  ({ t, browser } = await startRig(async (app) => {
    await applyPlans(app);
    // Version 2 of starter: a longer trial.
    await applyPlans(app, replaceOnce(FIXTURE, 'trial_days: 14', 'trial_days: 30'));
  }));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

test(
  'an operator reads and diffs plan versions, finds an error of the plan file at its line, previews the impact and applies it',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    // On starter v2: 8 of its 10 seats at 5.00 each, and 30 of its 100 meetings this period.
    const busy = await provisionedTenant(t, {
      plan: 'starter',
      seats: 8,
      slug: `busy-${marker}`,
      name: 'Busy',
    });
    const recorded = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: Array.from({ length: 30 }, (_, i) => ({
        id: `plans-${marker}-${i}`,
        tenant: busy.id,
        meter: 'meetings',
        time: t.clock.now().toISOString(),
      })),
    });
    expect(recorded.body).toMatchObject({ accepted: 30, rejected: [] });

    const { context, page, errors } = await operatorConsole(t, browser, `plans-${marker}@example.com`);

    // The plans.
    await page.click('nav >> text=Plans');
    await page.waitForURL(`${t.issuer}/console/plans`);
    await eventually(() => page.locator('main table').textContent()).toContain('starter');
    expect(await page.textContent('main table')).toContain('v2');
    await accessible(page, 'plans-list');

    // A plan, its versions and the latest in full.
    await page.click('main table >> a:has-text("starter")');
    await page.waitForURL(`${t.issuer}/console/plans/starter`);
    await eventually(() => page.textContent('#version-heading')).toBe('Version 2');
    expect(await page.textContent('[data-testid=limit-meetings]')).toBe('100');
    expect(await page.textContent('[data-testid=price-per_seat]')).toBe('5 USD per seat per month');
    await accessible(page, 'plan-page');

    // The diff of v1 → v2, then any two versions from the URL.
    await page.click('a:has-text("Diff v1 → v2")');
    await page.waitForURL(`${t.issuer}/console/plans/starter/diff?from=1&to=2`);
    await eventually(() => page.textContent('[data-testid=diff-summary]')).toBe(
      '0 added, 0 removed, 1 changed',
    );
    const trial = await page.locator('[data-testid=diff-plan] tbody tr').allTextContents();
    expect(trial).toEqual(['trial_days~ changed1430']);
    await accessible(page, 'plan-diff');
    await page.goto(`${t.issuer}/console/plans/starter/diff?from=2&to=1`);
    await eventually(() => page.locator('[data-testid=diff-plan] tbody tr').allTextContents()).toEqual([
      'trial_days~ changed3014',
    ]);

    // The editor: a file with an error, shown at its line.
    await page.goto(`${t.issuer}/console/plans/edit`);
    const fixed = replaceOnce(
      replaceOnce(
        replaceOnce(FIXTURE, 'trial_days: 14', 'trial_days: 30'),
        'meetings: { value: 100 }',
        'meetings: { value: 20 }',
      ),
      'unit_amount: "5.00"',
      'unit_amount: "7.50"',
    );
    const broken = replaceOnce(fixed, 'trial_days: 30', 'trial_days: lots');
    const badLine = lineOf(broken, 'trial_days: lots');
    await page.fill('textarea', broken);
    await page.click('button:has-text("Validate")');
    const located = page.locator(`.file-errors button:has-text("Line ${badLine},")`);
    await eventually(() => located.count()).toBe(1);
    expect(await page.textContent('.file-errors')).toContain('plans.starter.trial_days');
    expect((await page.textContent('.gutter'))?.split('\n')[badLine - 1]?.trim()).toBe(`!${badLine}`);
    // Nothing to apply while the file has errors.
    expect(await page.locator('button:has-text("Apply…")').count()).toBe(0);
    await located.click();
    const caret = await page.evaluate(() => {
      const area = document.querySelector('textarea');
      return area === null ? null : { focused: document.activeElement === area, at: area.selectionStart };
    });
    expect(caret?.focused).toBe(true);
    expect(broken.slice(0, caret?.at ?? 0).split('\n').length).toBe(badLine);
    await accessible(page, 'plan-editor-error');

    // Fixed: the dry run shows the diff and who it would affect.
    await page.fill('textarea', fixed);
    // From the keyboard: Ctrl+Enter in the text validates.
    await page.press('textarea', 'Control+Enter');
    await eventually(() => page.locator('[data-testid=dry-run]').count()).toBe(1);
    const changes = await page.locator('[data-testid=dry-run] table').first().textContent();
    expect(changes).toContain('new version');
    expect(changes).toContain('v2 → v3');
    await eventually(() =>
      page.locator('[data-testid=dry-run] [data-testid=diff-limits]').textContent(),
    ).toContain('meetings~ changedvalue10020');
    const impact = page.locator('[data-testid=impact-starter]');
    expect(await impact.textContent()).toContain('1 would be over a limit, 1 would pay more');
    const over = await impact.locator('table').nth(0).locator('tbody tr').allTextContents();
    expect(over).toEqual([`Busy (busy-${marker})v2meetings3010020`]);
    const pays = await impact.locator('table').nth(1).locator('tbody tr').allTextContents();
    expect(pays).toEqual([`Busy (busy-${marker})v2840 USD60 USD`]);
    expect(await page.textContent('[data-testid=impact]')).toContain('Applying moves nobody');
    await accessible(page, 'plan-editor-impact');
    // The dry run stored nothing.
    expect((await t.request({ method: 'GET', url: '/v1/plans/starter' })).body.latest_version).toBe(2);

    // Applied behind the typed words; the new version shows.
    await page.click('button:has-text("Apply…")');
    const confirm = page.locator('form[aria-label="Confirm: Apply the plan file"]');
    expect(await confirm.locator('button[type=submit]').isDisabled()).toBe(true);
    await confirm.locator('input').fill('apply plans');
    await confirm.locator('button[type=submit]').click();
    await eventually(() => page.locator('[data-testid=applied]').textContent()).toContain('starter v3');
    await accessible(page, 'plan-editor-applied');
    await page.click('[data-testid=applied] >> a:has-text("starter v3")');
    await page.waitForURL(`${t.issuer}/console/plans/starter?version=3`);
    await eventually(() => page.textContent('#version-heading')).toBe('Version 3');
    expect(await page.textContent('[data-testid=limit-meetings]')).toBe('20');
    expect(await page.textContent('[data-testid=price-per_seat]')).toBe('7.5 USD per seat per month');
    // Grandfathered: the tenant is still on v2.
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${busy.id}` })).body.plan.version).toBe(2);

    // The browser logs the refused dry run (400, the file's errors), an answer the page shows: that alone.
    const refused = errors.filter((e) => e.includes('/console/plans/edit') && e.includes('status of 400'));
    expect(refused).toHaveLength(1);
    expect(errors.filter((e) => !refused.includes(e))).toEqual([]);
    await context.close();
  },
  E2E_TIMEOUT_MS,
);
