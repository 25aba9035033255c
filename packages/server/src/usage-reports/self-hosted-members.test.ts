// A self-hosted customer's admins, with their user token, download their tenant's licenses, see its
// installs' check-ins and upload its installs' offline usage reports (tenant-admin permissions
// licenses:read, usage_reports:write), for their own tenant only. Attacks: another tenant's path,
// another tenant's license or report through one's own path, the operator's routes, a role without
// the permission.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { applyBillingPlans, billedTenant, setClock } from '../../test/billing-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import { query } from '../../test/tenant-support.ts';
import { InstallChain, installKey } from '../../test/usage-report-support.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
  expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
});
afterAll(() => t.close());

/**
 * A tenant licensed at the report period's start, then the clock at its end, and its admin's and
 * viewer's tokens (made then: a token lives 15 minutes of the clock).
 */
async function licensed() {
  setClock(t, '2026-11-01T00:00:00Z');
  const tenant = await billedTenant(t, { plan: 'starter', seats: 1 });
  const issued = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/licenses`,
    payload: { days: 365 },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  setClock(t, '2026-11-10T00:05:00Z');
  return {
    tenant,
    license: issued.body,
    admin: await memberAuthorization(t, tenant.id, 'admin'),
    viewer: await memberAuthorization(t, tenant.id, 'viewer'),
  };
}

/** An install's first report for `license`, one CPU-hours event. */
async function report(license: string, id: string) {
  const chain = new InstallChain({
    installId: `inst-${id}`,
    install: await installKey(),
    license,
    from: '2026-11-01T00:00:00Z',
  });
  return chain.next('2026-11-10T00:00:00Z', [
    { id, meter: 'cpu_hours', value: 2, time: '2026-11-02T10:00:00Z', subject: 'ana' },
  ]);
}

const reportCount = async (tenantId: string) =>
  (
    await query<{ n: number }>(
      t,
      `select count(*)::int as n from tenantry.usage_reports where tenant_id = '${tenantId}'`,
    )
  )[0]?.n;

describe("a self-hosted tenant's admins", () => {
  test('download their licenses, see their installs and upload their reports', async () => {
    const a = await licensed();
    const checkIn = await t.request({
      method: 'POST',
      url: '/v1/licenses/check-in',
      payload: { license: a.license.token, install_id: 'inst-portal', version: '2.0.0', seats_in_use: 1 },
      headers: { authorization: '' },
    });
    expect(checkIn.status, JSON.stringify(checkIn.body)).toBe(200);
    const base = `/v1/tenants/${a.tenant.id}`;
    const listed = await t.request({ method: 'GET', url: `${base}/licenses`, headers: a.admin });
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.data.map((l: { id: string }) => l.id)).toEqual([a.license.id]);
    const one = await t.request({ method: 'GET', url: `${base}/licenses/${a.license.id}`, headers: a.admin });
    expect(one.body).toMatchObject({ id: a.license.id, token: a.license.token });
    const installs = await t.request({ method: 'GET', url: `${base}/license-installs`, headers: a.admin });
    expect(installs.body.data).toMatchObject([{ install_id: 'inst-portal', license_id: a.license.id }]);
    const uploaded = await t.request({
      method: 'POST',
      url: `${base}/usage-reports`,
      payload: { report: await report(a.license.token, 'a-1') },
      headers: a.admin,
    });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    expect(uploaded.body).toMatchObject({ accepted: 1, report: { tenant_id: a.tenant.id } });
    const reports = await t.request({ method: 'GET', url: `${base}/usage-reports`, headers: a.admin });
    expect(reports.body.data).toHaveLength(1);
  });

  test("cannot reach another tenant's licenses or upload its reports, nor use the operator's routes", async () => {
    const a = await licensed();
    const b = await licensed();
    // A's tokens were made before B's tenant moved the clock back and forth: made again now.
    Object.assign(a, { admin: await memberAuthorization(t, a.tenant.id, 'admin') });
    // Another tenant's path.
    for (const request of [
      { method: 'GET' as const, url: `/v1/tenants/${b.tenant.id}/licenses` },
      { method: 'GET' as const, url: `/v1/tenants/${b.tenant.id}/licenses/${b.license.id}` },
      { method: 'GET' as const, url: `/v1/tenants/${b.tenant.id}/license-installs` },
      {
        method: 'POST' as const,
        url: `/v1/tenants/${b.tenant.id}/usage-reports`,
        payload: { report: await report(b.license.token, 'b-1') },
      },
    ]) {
      const refused = await t.request({ ...request, headers: a.admin });
      expect(refused.status, `${request.method} ${request.url}`).toBe(403);
      expect(refused.body.code).toBe('insufficient_permission');
    }
    // B's license through A's path is not found; B's report through A's path is refused, nothing written.
    const theirs = await t.request({
      method: 'GET',
      url: `/v1/tenants/${a.tenant.id}/licenses/${b.license.id}`,
      headers: a.admin,
    });
    expect(theirs.status).toBe(404);
    expect(theirs.body.code).toBe('license_not_found');
    const smuggled = await t.request({
      method: 'POST',
      url: `/v1/tenants/${a.tenant.id}/usage-reports`,
      payload: { report: await report(b.license.token, 'b-2') },
      headers: a.admin,
    });
    expect(smuggled.status).toBe(422);
    expect(smuggled.body).toMatchObject({ code: 'usage_report_invalid', refusal: 'other_tenant' });
    expect(await reportCount(b.tenant.id)).toBe(0);
    // The operator's routes take no member's token.
    for (const request of [
      { method: 'GET' as const, url: `/v1/licenses/${a.license.id}` },
      {
        method: 'POST' as const,
        url: '/v1/usage-reports',
        payload: { report: await report(a.license.token, 'a-2'), tenant: a.tenant.id },
      },
      { method: 'POST' as const, url: `/v1/tenants/${a.tenant.id}/licenses`, payload: { days: 3650 } },
    ]) {
      const refused = await t.request({ ...request, headers: a.admin });
      expect(refused.status, `${request.method} ${request.url}`).toBe(403);
      expect(refused.body.code).toBe('insufficient_permission');
    }
    expect(await reportCount(a.tenant.id)).toBe(0);
  });

  test('a role without the permissions is refused', async () => {
    const a = await licensed();
    const base = `/v1/tenants/${a.tenant.id}`;
    for (const [request, permission] of [
      [{ method: 'GET' as const, url: `${base}/licenses` }, 'licenses:read'],
      [{ method: 'GET' as const, url: `${base}/license-installs` }, 'licenses:read'],
      [
        {
          method: 'POST' as const,
          url: `${base}/usage-reports`,
          payload: { report: await report(a.license.token, 'v-1') },
        },
        'usage_reports:write',
      ],
    ] as const) {
      const refused = await t.request({ ...request, headers: a.viewer });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_permission',
        required_permission: permission,
      });
    }
  });
});
