import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyAccess, memberAuthorization } from '../../test/member-support.ts';
import { applyPlans, auditRows, provisionedTenant } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';

let t: TestApp;
let a: string;
let b: string;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  a = (await provisionedTenant(t, { plan: 'pro' })).id;
  b = (await provisionedTenant(t, { plan: 'pro' })).id;
});

afterAll(() => t.close());

async function createRun(payload: Record<string, unknown>) {
  return t.request({ method: 'POST', url: '/v1/migration-runs', payload });
}

async function report(run: string, target: string, payload: Record<string, unknown>) {
  return t.request({ method: 'POST', url: `/v1/migration-runs/${run}/targets/${target}`, payload });
}

async function runCount(): Promise<number> {
  const rows = await t.services.database.db.selectFrom('migration_runs').select('id').execute();
  return rows.length;
}

describe('migration runs', () => {
  it('records a run, its targets canaries first, their progress, and ends it when the last target finishes', async () => {
    const created = await createRun({
      target_version: 3,
      canary: b,
      targets: [
        { target: 'pool', placement: 'pool' },
        { target: a, placement: 'schema' },
        { target: b, placement: 'database', canary: true },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const run = created.body;
    expect(run).toMatchObject({ id: expect.stringMatching(/^mgr_/), state: 'running', target_count: 3 });
    expect(run.started_by).toMatch(/^api_key:key_/);
    expect(run.counts.pending).toBe(3);

    // Intermediate stages: progress, no audit entry.
    const before = (await auditRows(t)).length;
    expect((await report(run.id, b, { stage: 'prechecked' })).status).toBe(200);
    expect((await report(run.id, b, { stage: 'applying', version_before: 2 })).status).toBe(200);
    expect((await auditRows(t)).length).toBe(before);

    const verified = await report(run.id, b, { stage: 'verified', version_after: 3 });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({
      stage: 'verified',
      version_before: 2,
      version_after: 3,
      canary: true,
    });
    const failed = await report(run.id, a, {
      stage: 'failed',
      version_before: 2,
      version_after: 2,
      error: {
        code: 'migration_failed',
        message: '0003_x.sql, line 1: boom',
        migration: { version: 3, name: '0003_x' },
      },
    });
    expect(failed.status).toBe(200);

    const midway = await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` });
    expect(midway.body.state).toBe('running');
    expect(midway.body.targets.map((x: { target: string }) => x.target)).toEqual([b, 'pool', a]);

    expect(
      (
        await report(run.id, 'pool', {
          stage: 'skipped',
          error: { code: 'canary_failed', message: 'x', migration: null },
        })
      ).status,
    ).toBe(200);
    const fleet = await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` });
    expect(fleet.body).toMatchObject({
      state: 'failed',
      counts: { verified: 1, failed: 1, skipped: 1, pending: 0 },
    });
    expect(fleet.body.finished_at).not.toBeNull();

    // Visible per tenant, and in the tenant's own audit chain.
    const history = await t.request({ method: 'GET', url: `/v1/tenants/${a}/migrations` });
    expect(history.status).toBe(200);
    expect(history.body.data).toMatchObject([
      { run_id: run.id, run_state: 'failed', stage: 'failed', error: { code: 'migration_failed' } },
    ]);
    const actions = (await auditRows(t, a)).map((r) => r.action);
    expect(actions).toContain('migration_run.target_finished');
    const operator = (await auditRows(t)).filter((r) => r.target_id === run.id).map((r) => r.action);
    expect(operator).toEqual([
      'migration_run.created',
      'migration_run.target_finished',
      'migration_run.target_finished',
      'migration_run.target_finished',
      'migration_run.finished',
    ]);

    // A finished target is not rewritten.
    const again = await report(run.id, a, { stage: 'verified' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('migration_target_finished');

    const list = await t.request({ method: 'GET', url: '/v1/migration-runs?limit=100' });
    expect(list.body.data.map((r: { id: string }) => r.id)).toContain(run.id);
  });

  it('ends a run once when its targets finish at the same moment', async () => {
    const tenants = [a, b];
    for (let i = 0; i < 6; i++) tenants.push((await provisionedTenant(t, { plan: 'pro' })).id);
    const run = (
      await createRun({
        target_version: 1,
        targets: tenants.map((id) => ({ target: id, placement: 'schema' })),
      })
    ).body;
    const answers = await Promise.all(
      tenants.map((id) => report(run.id, id, { stage: 'verified', version_before: 0, version_after: 1 })),
    );
    expect(answers.map((x) => x.status)).toEqual(tenants.map(() => 200));
    const ends = (await auditRows(t)).filter(
      (r) => r.target_id === run.id && r.action === 'migration_run.finished',
    );
    expect(ends).toHaveLength(1);
    expect((await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` })).body).toMatchObject({
      state: 'succeeded',
      counts: { verified: 8 },
    });
  });

  it('ends a run of verified targets as succeeded', async () => {
    const run = (await createRun({ target_version: 1, targets: [{ target: a, placement: 'schema' }] })).body;
    await report(run.id, a, { stage: 'verified', version_before: 0, version_after: 1 });
    const fleet = await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` });
    expect(fleet.body).toMatchObject({ state: 'succeeded', counts: { verified: 1 } });
  });

  it('refuses bad input naming the field, and writes nothing', async () => {
    const count = await runCount();
    const audit = (await auditRows(t)).length;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ target_version: 1, targets: [] }, 'targets'],
      [
        { target_version: 1, targets: [{ target: 'ten_00000000000000000000000000', placement: 'schema' }] },
        'targets.0.target',
      ],
      [
        {
          target_version: 1,
          targets: [
            { target: a, placement: 'schema' },
            { target: a, placement: 'schema' },
          ],
        },
        'targets.1.target',
      ],
      [{ target_version: 1, targets: [{ target: 'pool', placement: 'schema' }] }, 'targets.0.placement'],
      [
        { target_version: 1, targets: [{ target: "pool'; drop table x; --", placement: 'pool' }] },
        'targets.0.target',
      ],
      [{ target_version: -1, targets: [{ target: 'pool', placement: 'pool' }] }, 'target_version'],
    ];
    for (const [payload, path] of cases) {
      const response = await createRun(payload);
      expect(response.status, JSON.stringify(payload)).toBe(400);
      expect(response.body.code).toBe('validation_failed');
      expect(JSON.stringify(response.body.errors)).toContain(path);
    }
    expect(await runCount()).toBe(count);
    expect((await auditRows(t)).length).toBe(audit);
  });

  it('refuses reports that do not fit the run', async () => {
    const dry = (
      await createRun({ target_version: 1, dry_run: true, targets: [{ target: a, placement: 'schema' }] })
    ).body;
    const applied = await report(dry.id, a, { stage: 'verified' });
    expect(applied.status).toBe(400);
    expect(applied.body.errors[0].path).toBe('stage');
    const noReason = await report(dry.id, a, { stage: 'failed' });
    expect(noReason.body.errors[0].path).toBe('error');
    expect((await report(dry.id, b, { stage: 'prechecked' })).body.code).toBe('migration_target_not_found');
    expect((await report('mgr_00000000000000000000000000', a, { stage: 'prechecked' })).body.code).toBe(
      'migration_run_not_found',
    );
    expect((await report(dry.id, a, { stage: 'pending' })).status).toBe(400);
    expect((await report(dry.id, a, { stage: 'dry_run', version_before: 0, version_after: 0 })).status).toBe(
      200,
    );
  });

  it('is not reachable with an app key: the app cannot forge the fleet history', async () => {
    const app = await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' });
    const response = await t.request({
      method: 'POST',
      url: '/v1/migration-runs',
      headers: { authorization: `Bearer ${app.secret}` },
      payload: { target_version: 1, targets: [{ target: 'pool', placement: 'pool' }] },
    });
    expect(response.status).toBe(403);
    expect(response.body.required_scope).toBe('migrations:write');
    const read = await t.request({
      method: 'GET',
      url: '/v1/migration-runs',
      headers: { authorization: `Bearer ${app.secret}` },
    });
    expect(read.status).toBe(403);
    // Nor can it mark a target of an operator's run verified.
    const run = (await createRun({ target_version: 1, targets: [{ target: a, placement: 'schema' }] })).body;
    const forged = await t.request({
      method: 'POST',
      url: `/v1/migration-runs/${run.id}/targets/${a}`,
      headers: { authorization: `Bearer ${app.secret}` },
      payload: { stage: 'verified', version_before: 0, version_after: 1 },
    });
    expect(forged.status).toBe(403);
    const fleet = await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` });
    expect(fleet.body.targets[0].stage).toBe('pending');
  });
});

describe('pausing, resuming and retrying', () => {
  const act = (run: string, action: string, headers?: Record<string, string>) =>
    t.request({
      method: 'POST',
      url: `/v1/migration-runs/${run}/${action}`,
      ...(headers ? { headers } : {}),
    });
  const stageOf = async (run: string, target: string) =>
    (await t.request({ method: 'GET', url: `/v1/migration-runs/${run}` })).body.targets.find(
      (x: { target: string }) => x.target === target,
    ).stage;

  it('starts no target of a paused run, lets a started one finish, and starts them again once resumed', async () => {
    const c = (await provisionedTenant(t, { plan: 'pro' })).id;
    const run = (
      await createRun({
        target_version: 2,
        targets: [
          { target: a, placement: 'schema' },
          { target: b, placement: 'schema' },
          { target: c, placement: 'schema' },
        ],
      })
    ).body;
    expect((await report(run.id, a, { stage: 'applying', version_before: 1 })).status).toBe(200);
    const paused = await act(run.id, 'pause');
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body).toMatchObject({ id: run.id, state: 'paused', finished_at: null });
    // Pausing again changes nothing, and records nothing more.
    expect((await act(run.id, 'pause')).body.state).toBe('paused');

    // No pending target starts: every first report is refused, and the target stays pending.
    for (const stage of ['prechecked', 'applying', 'verified']) {
      const refused = await report(run.id, b, { stage, version_before: 1, version_after: 2 });
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('migration_run_paused');
    }
    expect(await stageOf(run.id, b)).toBe('pending');
    // The target already started finishes; the run does not end while targets wait.
    expect((await report(run.id, a, { stage: 'verified', version_after: 2 })).status).toBe(200);
    expect((await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` })).body).toMatchObject({
      state: 'paused',
      counts: { verified: 1, pending: 2 },
    });

    const resumed = await act(run.id, 'resume');
    expect(resumed.body.state).toBe('running');
    for (const target of [b, c])
      expect((await report(run.id, target, { stage: 'verified', version_after: 2 })).status).toBe(200);
    const ended = (await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` })).body;
    expect(ended).toMatchObject({ state: 'succeeded', counts: { verified: 3 } });
    const actions = (await auditRows(t)).filter((r) => r.target_id === run.id).map((r) => r.action);
    expect(actions.filter((x) => x === 'migration_run.paused')).toHaveLength(1);
    expect(actions.filter((x) => x === 'migration_run.resumed')).toHaveLength(1);
    // An ended run is neither paused nor resumed.
    for (const action of ['pause', 'resume']) {
      const refused = await act(run.id, action);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('migration_run_finished');
    }
  });

  it('sets a failed target pending again, which then runs again; only a failed target of a run not ended', async () => {
    const run = (
      await createRun({
        target_version: 2,
        targets: [
          { target: a, placement: 'schema' },
          { target: b, placement: 'schema' },
        ],
      })
    ).body;
    const boom = { code: 'migration_failed', message: 'boom', migration: { version: 2, name: '0002_x' } };
    await report(run.id, a, { stage: 'failed', version_before: 1, version_after: 1, error: boom });
    const notFailed = await act(run.id, `targets/${b}/retry`);
    expect(notFailed.status).toBe(409);
    expect(notFailed.body.code).toBe('migration_target_not_failed');

    const retried = await act(run.id, `targets/${a}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({
      stage: 'pending',
      error: null,
      version_after: null,
      finished_at: null,
    });
    expect((await auditRows(t, a)).map((r) => r.action)).toContain('migration_run.target_retried');
    // It runs again: its reports are taken, and it ends the run with the other.
    expect((await report(run.id, a, { stage: 'prechecked' })).status).toBe(200);
    expect((await report(run.id, a, { stage: 'verified', version_before: 1, version_after: 2 })).status).toBe(
      200,
    );
    expect((await report(run.id, b, { stage: 'verified', version_before: 1, version_after: 2 })).status).toBe(
      200,
    );
    const ended = (await t.request({ method: 'GET', url: `/v1/migration-runs/${run.id}` })).body;
    expect(ended).toMatchObject({ state: 'succeeded', counts: { verified: 2, failed: 0 } });

    // The run has ended: nothing would run a retried target.
    const other = (await createRun({ target_version: 2, targets: [{ target: a, placement: 'schema' }] }))
      .body;
    await report(other.id, a, { stage: 'failed', error: boom });
    const late = await act(other.id, `targets/${a}/retry`);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('migration_run_finished');
    expect(await stageOf(other.id, a)).toBe('failed');
    expect((await act('mgr_00000000000000000000000000', 'pause')).body.code).toBe('migration_run_not_found');
    expect((await act(other.id, `targets/${b}/retry`)).body.code).toBe('migration_target_not_found');
  });

  it('is refused to an app key and a tenant member, and changes nothing', async () => {
    const run = (await createRun({ target_version: 1, targets: [{ target: a, placement: 'schema' }] })).body;
    await report(run.id, a, {
      stage: 'failed',
      error: { code: 'migration_failed', message: 'x', migration: null },
    });
    const other = (await createRun({ target_version: 1, targets: [{ target: b, placement: 'schema' }] }))
      .body;
    const app = await t.services.apiKeys.create(systemContext('test'), { name: 'app2', preset: 'app' });
    await applyAccess(t);
    const member = await memberAuthorization(t, a, 'owner');
    for (const headers of [{ authorization: `Bearer ${app.secret}` }, member, { authorization: '' }]) {
      for (const [id, action] of [
        [other.id, 'pause'],
        [other.id, 'resume'],
      ] as const) {
        const refused = await act(id, action, headers);
        expect([401, 403]).toContain(refused.status);
      }
    }
    expect((await t.request({ method: 'GET', url: `/v1/migration-runs/${other.id}` })).body.state).toBe(
      'running',
    );
    const appKey = await act(run.id, `targets/${a}/retry`, { authorization: `Bearer ${app.secret}` });
    expect(appKey.status).toBe(403);
    expect(appKey.body.required_scope).toBe('migrations:write');
    expect((await act(run.id, `targets/${a}/retry`, member)).status).toBe(403);
  });
});
