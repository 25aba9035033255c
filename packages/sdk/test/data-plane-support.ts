import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { adminUrl, startTestApp, type TestApp } from '../../server/test/harness.ts';
import { applyPlans } from '../../server/test/tenant-support.ts';
import { installTenantBinding, rowLevelSecuritySql } from '../src/data/index.ts';

/** A control plane on PostgreSQL whose database is the data plane, as a default install has it. */
export interface DataPlane {
  readonly t: TestApp;
  /** The control plane's database, as the admin. */
  readonly dbUrl: string;
  /** Where the SDK reaches the control plane. */
  readonly controlPlaneUrl: string;
  /** The superuser on that database. */
  readonly admin: pg.Client;
}

/**
 * Test support: makes the app's login role, starts a control plane that provisions for it, and
 * sets up its database as a vendor's install does: the tenant binding with `bindingKey`, TEMP
 * revoked from PUBLIC, and the pool table `public.notes` with row-level security, DML granted to
 * the app role.
 */
export async function startDataPlane(appRole: string, bindingKey: string): Promise<DataPlane> {
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  await server.query(`create role ${appRole} login`);
  await server.end();
  const t = await startTestApp({ appRole });
  await applyPlans(t);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const controlPlaneUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  if (!('url' in t.db.target)) throw new Error('the postgres backend gives a database URL');
  const dbUrl = t.db.target.url;
  const admin = new pg.Client({ connectionString: dbUrl });
  await admin.connect();
  await installTenantBinding(admin, Buffer.from(bindingKey, 'hex'));
  await admin.query(`revoke temporary on database "${new URL(dbUrl).pathname.slice(1)}" from public`);
  // The vendor's pool table, owned by the admin (its migrations' role), protected, and open to
  // the app role for DML only.
  await admin.query(`
    create table public.notes (tenant_id text not null, id text not null, body text, primary key (tenant_id, id));
    ${rowLevelSecuritySql('notes')}
    grant select, insert, update, delete on public.notes to ${appRole};`);
  return { t, dbUrl, controlPlaneUrl, admin };
}
