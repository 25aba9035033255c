// The operator console's fleet pages in a real browser (Debian's Chromium driven by
// playwright-core), on both backends: the fleet home's signals (a tenant near its limit, a trial
// ending) each linking to its list; the placements page and a data plane's page, changed; a
// migration run's progress per target; a failed provisioning run retried from the console. Each
// page loads with no console error and no serious or critical axe violation.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import {
  applyPlans,
  failedTenant,
  provisionedTenant,
  query,
} from '../../packages/server/test/tenant-support.ts';
import { accessible, eventually, operatorConsole, startRig, stopRig } from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;

beforeAll(async () => {
  ({ t, browser } = await startRig(applyPlans));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

test(
  'an operator reads the fleet signals and follows them, changes a data plane, reads a migration run, and retries a failed provisioning',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    // A tenant at 85 of its 100 meetings (starter), as the vendor's app records them.
    const near = await provisionedTenant(t, {
      plan: 'starter',
      slug: `near-${marker}`,
      name: 'Near Limit Co',
      placement: 'schema',
    });
    const recorded = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: Array.from({ length: 85 }, (_, i) => ({
        id: `fleet-${marker}-${i}`,
        tenant: near.id,
        meter: 'meetings',
        time: t.clock.now().toISOString(),
      })),
    });
    expect(recorded.body).toMatchObject({ accepted: 85, rejected: [] });
    await t.services.usage.thresholds.drain();
    // A trial that ends in three days.
    const trial = await provisionedTenant(t, {
      plan: 'starter',
      slug: `trial-${marker}`,
      name: 'Short Trial Ltd',
      placement: 'schema',
      trial_days: 3,
    });
    expect(trial.state).toBe('trialing');
    // A schema tenant whose provisioning failed: a schema of its name was in the way.
    const before = t.clock.now().getTime();
    const failed = await failedTenant(t, { slug: `failed-${marker}`, name: 'Failed Provisioning Inc' });
    // Its retries moved the clock on past their backoffs; the hosted sign-in stamps its tokens with
    // the wall clock (the OpenID provider's own), which the API checks against this one: back to it.
    t.clock.advance(before - t.clock.now().getTime());
    // A migration run over two tenants: one verified, one failed with the runner's error.
    const run = await t.request({
      method: 'POST',
      url: '/v1/migration-runs',
      payload: {
        target_version: 4,
        targets: [
          { target: near.id, placement: 'schema' },
          { target: trial.id, placement: 'schema' },
        ],
      },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    const report = (target: string, payload: Record<string, unknown>) =>
      t.request({ method: 'POST', url: `/v1/migration-runs/${run.body.id}/targets/${target}`, payload });
    expect((await report(near.id, { stage: 'verified', version_before: 3, version_after: 4 })).status).toBe(
      200,
    );
    expect(
      (
        await report(trial.id, {
          stage: 'failed',
          version_before: 3,
          version_after: 3,
          error: {
            code: 'migration_failed',
            message: 'relation "meetings" does not exist',
            migration: { version: 4, name: '0004_rooms' },
          },
        })
      ).status,
    ).toBe(200);

    // A run still going: one target verified, one failed, one not started yet.
    const going = await t.request({
      method: 'POST',
      url: '/v1/migration-runs',
      payload: {
        target_version: 5,
        targets: [near.id, trial.id, failed.id].map((target) => ({ target, placement: 'schema' })),
      },
    });
    expect(going.status, JSON.stringify(going.body)).toBe(201);
    const progress = (target: string, payload: Record<string, unknown>) =>
      t.request({ method: 'POST', url: `/v1/migration-runs/${going.body.id}/targets/${target}`, payload });
    expect((await progress(near.id, { stage: 'verified', version_before: 4, version_after: 5 })).status).toBe(
      200,
    );
    expect(
      (
        await progress(trial.id, {
          stage: 'failed',
          error: { code: 'verification_failed', message: 'the verification query: false', migration: null },
        })
      ).status,
    ).toBe(200);

    const { page, errors } = await operatorConsole(t, browser, `fleet-${marker}@example.com`);

    // --- The fleet home: the signals, each linking onwards. ---
    await eventually(() => page.textContent('[data-testid=signal-near-limit]')).toContain('Near Limit Co');
    expect(Number(await page.textContent('[data-testid=signal-near-limit-count]'))).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('[data-testid=signal-near-limit]')).toContain('meetings: 85 of 100');
    expect(await page.textContent('[data-testid=signal-trials-ending]')).toContain('Short Trial Ltd');
    expect(await page.textContent('[data-testid=signal-trials-ending]')).not.toContain('Near Limit Co');
    expect(await page.textContent('[data-testid=signal-provisioning-stuck]')).toContain(
      'Failed Provisioning Inc',
    );
    expect(await page.textContent('[data-testid=signal-migrations-stuck]')).toContain(run.body.id);
    await accessible(page, 'fleet-signals');

    // A near-limit tenant leads to its usage view.
    await page.click('[data-testid=signal-near-limit] >> text=Near Limit Co');
    await page.waitForURL(`${t.issuer}/console/tenants/near-${marker}?view=usage`);
    await page.goBack();
    // The trials lead to the trialing tenants.
    await page.click('[data-testid=signal-trials-ending] >> text=Every trialing tenant');
    await page.waitForURL(`${t.issuer}/console/tenants?state=trialing`);
    await eventually(() => page.textContent('main table')).toContain('Short Trial Ltd');
    await page.goBack();
    // The migrations lead to the runs.
    await page.click('[data-testid=signal-migrations-stuck] >> text=Every migration run');
    await page.waitForURL(`${t.issuer}/console/migrations`);
    await eventually(() => page.textContent('main table')).toContain(run.body.id);
    await accessible(page, 'migrations');

    // --- A migration run's progress per target. ---
    await page.click(`main table >> text=${run.body.id}`);
    await page.waitForURL(`${t.issuer}/console/migrations/${run.body.id}`);
    await eventually(() => page.textContent('[data-testid=run-progress]')).toBe(
      '2 targets: 1 verified, 1 failed',
    );
    const targets = await page.textContent('main table');
    expect(targets).toContain('migration_failed at 0004_rooms: relation "meetings" does not exist');
    expect(targets).toContain('3 → 4');
    await page.selectOption('select', 'failed');
    await eventually(() => page.locator('main table tbody tr').count()).toBe(1);
    expect(await page.textContent('main table tbody')).toContain(trial.id);
    await accessible(page, 'migration-run');

    // --- A run still going: paused, its failed target retried, resumed. ---
    await page.goto(`${t.issuer}/console/migrations/${going.body.id}`);
    await eventually(() => page.textContent('[data-testid=run-progress]')).toBe(
      '3 targets: 1 pending, 1 verified, 1 failed',
    );
    await page.click('button:text-is("Pause run")');
    await eventually(() => page.textContent('h1')).toContain('paused');
    const pausedRun = await t.request({ method: 'GET', url: `/v1/migration-runs/${going.body.id}` });
    expect(pausedRun.body.state).toBe('paused');
    // Paused, its pending target does not start.
    const refused = await progress(failed.id, { stage: 'prechecked' });
    expect(refused.body.code).toBe('migration_run_paused');
    await accessible(page, 'migration-run-paused');
    await page.click(`button[aria-label="Retry ${trial.id}"]`);
    await eventually(() => page.textContent('[data-testid=run-progress]')).toBe(
      '3 targets: 2 pending, 1 verified',
    );
    await page.click('button:text-is("Resume run")');
    await eventually(() => page.textContent('h1')).toContain('running');
    // Resumed, the retried target runs again, and the run ends with it.
    for (const target of [trial.id, failed.id])
      expect(
        (await progress(target, { stage: 'verified', version_before: 4, version_after: 5 })).status,
      ).toBe(200);
    await page.reload();
    await eventually(() => page.textContent('h1')).toContain('succeeded');
    expect(await page.textContent('[data-testid=run-progress]')).toBe('3 targets: 3 verified');

    // --- Provisioning: the failed run from the home's link, retried. ---
    await page.click('nav >> text=Fleet');
    await page.click('[data-testid=signal-provisioning-stuck] >> text=Failed provisioning runs');
    await page.waitForURL(`${t.issuer}/console/provisioning?state=failed`);
    await eventually(() => page.textContent('main table')).toContain('Failed Provisioning Inc');
    await accessible(page, 'provisioning');
    // What was in the way goes; the retry resumes the run at its failed step.
    await query(t, `drop schema "${failed.id}"`);
    await page.click(`button[aria-label="Retry provisioning failed-${marker}"]`);
    // The run is running again: it leaves the failed list.
    await eventually(() => page.textContent('[data-testid=provisioning-count]')).toBe(
      'No provisioning run matches.',
    );
    await t.services.jobs.runDue();
    await page.selectOption('select[name=state]', 'succeeded');
    await page.click('form[aria-label="Filter provisioning runs"] button[type=submit]');
    await page.waitForURL(`${t.issuer}/console/provisioning?state=succeeded`);
    await eventually(() => page.textContent('main table')).toContain('Failed Provisioning Inc');
    const after = await t.request({ method: 'GET', url: `/v1/tenants/${failed.id}` });
    expect(after.body.state).toBe('active');

    // --- Placements: the control plane's own server, its page, its region changed. ---
    await page.click('nav >> text=Placements');
    await page.waitForURL(`${t.issuer}/console/placements`);
    await eventually(() => page.textContent('main table')).toContain('dpl_default');
    await accessible(page, 'placements');
    await page.click('main table >> text=dpl_default');
    await page.waitForURL(`${t.issuer}/console/placements/dpl_default`);
    await eventually(() => page.textContent('[data-testid=data-plane-tenants]')).toMatch(/^\d+/);
    const tenantsOn = Number(
      /^\d+/.exec((await page.textContent('[data-testid=data-plane-tenants]')) ?? '')?.[0],
    );
    expect(tenantsOn).toBeGreaterThanOrEqual(3);
    await page.fill('input[name=region]', `eu-${marker}`);
    await page.click('form[aria-label="Change the data plane"] button[type=submit]');
    await eventually(() => page.textContent('main dl')).toContain(`eu-${marker}`);
    const plane = await t.request({ method: 'GET', url: '/v1/data-planes/dpl_default' });
    expect(plane.body.region).toBe(`eu-${marker}`);
    // Its raw JSON is what the API answers.
    expect(await page.textContent('[data-testid=raw-json]')).toContain(`"region": "eu-${marker}"`);
    await accessible(page, 'data-plane');

    expect(errors).toEqual([]);
  },
  E2E_TIMEOUT_MS,
);
