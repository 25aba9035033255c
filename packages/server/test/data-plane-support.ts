// Data planes for tests: roles and databases of their own on the shared PostgreSQL server (which
// every backend's tests can reach), shaped as a vendor's server or a BYOI customer's database, and
// tenants placed `byoi`, made through the API.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import type { TestApp } from './harness.ts';
import { adminUrl, withAdmin } from './postgres-admin.ts';
import { createTenant } from './tenant-support.ts';

/** A role and a database of a test's own; `password` is what each test checks is never shown. */
export interface TestDataPlane {
  readonly connection: {
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
    sslmode: 'disable';
  };
  /** Drops the database and the role. */
  drop(): Promise<void>;
}

const made: TestDataPlane[] = [];

/**
 * A login role and a database it owns. `vendor`: with CREATEROLE, as the admin of a vendor's
 * server; `customer`: without, as a customer's own role for the app.
 */
export async function testDataPlane(kind: 'vendor' | 'customer', options: { createrole?: boolean } = {}) {
  const tag = randomBytes(4).toString('hex');
  const user = `dp_${kind}_${tag}`;
  const database = `dp_${tag}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const createrole = options.createrole ?? kind === 'vendor';
  await withAdmin(async (client) => {
    await client.query(`create role ${user} login password '${password}'${createrole ? ' createrole' : ''}`);
    await client.query(`create database ${database} owner ${user}`);
  });
  const url = new URL(adminUrl);
  const plane: TestDataPlane = {
    connection: {
      host: url.hostname,
      port: Number(url.port || 5432),
      database,
      user,
      password,
      sslmode: 'disable',
    },
    drop: () =>
      withAdmin(async (client) => {
        await client.query(`drop database if exists ${database} with (force)`);
        // Roles the vendor's admin made for tenants go first: they belong to it. Only tenant roles
        // (tenantRoleName): a role shared by the server, as the SDK's binder, is not this plane's.
        const owned = await client.query<{ rolname: string }>(
          `select r.rolname from pg_roles r join pg_auth_members m on m.roleid = r.oid
             join pg_roles g on g.oid = m.member
             where g.rolname = $1 and r.rolname like 'tenantry\\_ten\\_%'`,
          [user],
        );
        for (const { rolname } of owned.rows) await client.query(`drop role if exists ${rolname}`);
        await client.query(`drop role if exists ${user}`);
      }),
  };
  made.push(plane);
  return plane;
}

/** Drops every test data plane made so far. */
export async function dropTestDataPlanes(): Promise<void> {
  for (const plane of made.splice(0)) await plane.drop();
}

/** A tenant placed `byoi`, made through the API, whose provisioning waits for its data connection. */
export async function byoiTenant(t: TestApp, schema = 'app'): Promise<{ id: string }> {
  const created = await createTenant(t, { plan: 'pro', placement: 'byoi', app_schema: schema });
  await t.services.jobs.runDue();
  const shown = await t.request({ method: 'GET', url: `/v1/tenants/${created.id}` });
  expect(shown.body.provisioning).toMatchObject({ state: 'waiting', step: 'connection' });
  return { id: created.id };
}

/**
 * Gives BYOI tenant `tenantId` its customer's database (`PUT /v1/tenants/{id}/data-connection`)
 * and runs its provisioning to the end, which must leave it trialing or active; answers the
 * tenant as then shown.
 */
export async function connectByoiTenant(
  t: TestApp,
  tenantId: string,
  customer: TestDataPlane,
): Promise<{ data_plane: string }> {
  const put = await t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenantId}/data-connection`,
    payload: customer.connection,
  });
  expect(put.status, JSON.stringify(put.body)).toBe(201);
  // The connection step resumes in one job, the schema and migrations in the next.
  await t.services.jobs.runDue();
  await t.services.jobs.runDue();
  const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}` });
  expect(shown.body.state, JSON.stringify(shown.body.provisioning)).toMatch(/^(trialing|active)$/);
  return shown.body;
}

/** Runs `text` as the server's superuser in `database` (what a customer's DBA might do behind Tenantry's back). */
export async function asSuperuser(database: string, text: string): Promise<void> {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
