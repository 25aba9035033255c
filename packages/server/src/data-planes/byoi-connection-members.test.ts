// A BYOI tenant's own admins set its data connection with their user token (tenant-admin
// permission data_connection:write), for their tenant only, and never read its password.
import { plannedResources } from '@tenantry/core';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dropTestDataPlanes, testDataPlane } from '../../test/data-plane-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import { applyPlans, provisionedTenant } from '../../test/tenant-support.ts';
import { newId } from '../ids.ts';
import { createTenantDataPlane } from './index.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(async () => {
  await t.close();
  await dropTestDataPlanes();
});

/** A tenant with an admin's and a plain member's tokens, then placed byoi and waiting for its connection. */
async function byoiWithMembers() {
  const tenant = await provisionedTenant(t);
  const admin = await memberAuthorization(t, tenant.id, 'admin');
  const member = await memberAuthorization(t, tenant.id, 'member');
  // Re-placed by hand: members are invited and admitted to an active tenant, and this one must
  // then wait for its connection as a new byoi tenant does.
  const plane = newId('dpl');
  const resources = plannedResources(tenant.id, 'byoi', plane, 'app');
  await t.services.database.db.transaction().execute(async (tx) => {
    await createTenantDataPlane(tx, tenant.id, 'customer', plane);
    await sql`update tenantry.tenants set placement = 'byoi', state = 'provisioning', data_plane_id = ${plane},
      resources = ${JSON.stringify(resources)}::jsonb where id = ${tenant.id}`.execute(tx);
  });
  return { id: tenant.id as string, admin, member };
}

describe("a BYOI tenant's admin sets its data connection", () => {
  test('as the user, for their own tenant only; a member cannot, and no member reads the password', async () => {
    const own = await byoiWithMembers();
    const other = await byoiWithMembers();
    const customer = await testDataPlane('customer');
    const url = (id: string) => `/v1/tenants/${id}/data-connection`;
    const byMember = await t.request({
      method: 'PUT',
      url: url(own.id),
      payload: customer.connection,
      headers: own.member,
    });
    expect(byMember.status).toBe(403);
    expect(byMember.body.code).toBe('insufficient_permission');
    const elsewhere = await t.request({
      method: 'PUT',
      url: url(other.id),
      payload: customer.connection,
      headers: own.admin,
    });
    expect(elsewhere.status).toBe(403);
    const set = await t.request({
      method: 'PUT',
      url: url(own.id),
      payload: customer.connection,
      headers: own.admin,
    });
    expect(set.status, JSON.stringify(set.body)).toBe(201);
    const shown = await t.request({ method: 'GET', url: url(own.id), headers: own.admin });
    expect(shown.status).toBe(200);
    expect(JSON.stringify(shown.body)).not.toContain(customer.connection.password);
    const credentials = await t.request({
      method: 'GET',
      url: `${url(own.id)}/credentials`,
      headers: own.admin,
    });
    expect(credentials.status).toBe(403);
    const audit = await t.services.database.db
      .selectFrom('audit_events')
      .select(['action', 'actor_type'])
      .where('tenant_id', '=', own.id)
      .where('action', '=', 'data_connection.set')
      .execute();
    expect(audit).toEqual([{ action: 'data_connection.set', actor_type: 'user' }]);
  });
});
