// Tenant-scoped data self-hosted on a license: the app's own database, migrated with no control
// plane (the pool schema and the tenant binding only), its one tenant the license's customer. The
// data layer's protections hold as in SaaS: the binding, row-level security, the role check.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LicenseClaims, signLicense } from '@tenantry/core';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl } from '../../server/test/harness.ts';
import { runAsTenant } from './context/index.ts';
import { RowLevelSecurityError, TenantNotServedError } from './data/index.ts';
import { migrateFleet } from './migrations/index.ts';
import { type SelfHostedTenantry, Tenantry } from './tenantry.ts';

const CUSTOMER = 'ten_selfhosted';
/** A tenant whose rows are in the same tables (a restored SaaS dump, or rows planted by an admin). */
const OTHER = 'ten_neighbour';
const SECRET = 'SECRET-OF-THE-NEIGHBOUR';
const DAY_MS = 86_400_000;
const migrations = join(import.meta.dirname, '..', '..', '..', 'examples', 'minutes', 'migrations');
const appRole = `minutes_selfhosted_${randomBytes(4).toString('hex')}`;
const bindingKey = randomBytes(32).toString('hex');
const databaseName = `minutes_selfhosted_${randomBytes(4).toString('hex')}`;

let databaseUrl: string;
let admin: pg.Client;
let stateDirectory: string;
let license: string;
let vendor: { kid: string; privateJwk: JWK; publicJwk: JWK };
let tenantry: SelfHostedTenantry;

function urlAs(user: string): string {
  const url = new URL(databaseUrl);
  url.username = user;
  url.password = '';
  return url.toString();
}

function claims(): LicenseClaims {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'Minutes Inc.',
    jti: 'lic_dataonlicense',
    customer: { id: CUSTOMER, name: 'Self-hosted Customer' },
    edition: 'team',
    seats: 5,
    plan: { key: 'team', version: 1 },
    entitlements: {
      features: { advanced_analytics: true },
      limits: { meetings: { kind: 'metered', limit: 100, enforcement: 'soft', thresholds: [] } },
      config: { retention_days: 365 },
      meter_features: {},
    },
    iat: now,
    nbf: now,
    exp: now + 365 * (DAY_MS / 1000),
    grace_days: 14,
    offline_days: null,
    phone_home: false,
    install: null,
    seq: 1,
  };
}

const open = (url: string) =>
  Tenantry.open({
    license,
    builtInKeys: [vendor.publicJwk],
    restrictedMode: 'read-only',
    stateDirectory,
    checkEveryMs: 0,
    databaseUrl: url,
    data: { bindingKey, max: 1 },
  });

const asTenant = <T>(tenantId: string, fn: () => Promise<T>) =>
  runAsTenant({ tenantId, subject: 'alice', roles: [] }, fn);

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  vendor = {
    kid: 'minutes-1',
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...(await exportJWK(publicKey)), kid: 'minutes-1' },
  };
  const signed = await signLicense(claims(), vendor);
  if (!signed.ok) throw new Error(signed.error.message);
  license = signed.value;

  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  await server.query(`create database ${databaseName}`);
  await server.query(`create role ${appRole} login`);
  await server.end();
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  databaseUrl = url.toString();
  admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  // The operator's one step, as the README gives it: the app's role may use the tables the
  // migrations make, then the pool-only migration installs the binding and the tables.
  await admin.query(
    `alter default privileges in schema public grant select, insert, update, delete on tables to ${appRole}`,
  );
  const report = await migrateFleet({
    migrationsDir: migrations,
    databaseUrl,
    controlPlane: null,
    bindingKey,
  });
  expect(report).toMatchObject({ targets: 1, applied: 1, failed: 0 });
  await admin.query(
    `insert into meetings (tenant_id, id, title, held_at, created_by) values ($1, 'm-secret', $2, now(), 'eve')`,
    [OTHER, SECRET],
  );
  stateDirectory = await mkdtemp(join(tmpdir(), 'tenantry-data-on-license-'));
  tenantry = await open(urlAs(appRole));
});

afterAll(async () => {
  await tenantry?.close();
  await admin?.end();
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  await server.query(`drop database if exists ${databaseName} with (force)`);
  await server.query(`drop role if exists ${appRole}`);
  await server.end();
  await rm(stateDirectory, { recursive: true, force: true });
});

describe('Tenantry.open({ license, databaseUrl })', () => {
  it("keeps the app's data as the license's customer, in the pool tables, under row-level security", async () => {
    await asTenant(CUSTOMER, () =>
      tenantry.data.transaction(async (db) => {
        await db.query(
          `insert into meetings (id, title, held_at, created_by) values ('m1', 'Kick-off', now(), 'alice')`,
        );
      }),
    );
    const seen = await asTenant(CUSTOMER, () =>
      tenantry.data.query('select id, title from meetings order by id'),
    );
    expect(seen.rows).toEqual([{ id: 'm1', title: 'Kick-off' }]);
    // The row carries the customer's id, filled in from the verified binding.
    const stored = await admin.query('select tenant_id, id from meetings order by tenant_id');
    expect(stored.rows).toEqual([
      { tenant_id: OTHER, id: 'm-secret' },
      { tenant_id: CUSTOMER, id: 'm1' },
    ]);
  });

  it('refuses to run as any tenant but the license’s customer', async () => {
    await expect(asTenant(OTHER, () => tenantry.data.query('select title from meetings'))).rejects.toThrow(
      TenantNotServedError,
    );
    await expect(
      asTenant(OTHER, () => tenantry.data.transaction((db) => db.query('select title from meetings'))),
    ).rejects.toThrow(`tenant ${OTHER} has no data here: this app serves only tenant ${CUSTOMER}`);
  });

  it('attack: SQL run as the customer forges the binding for another tenant and reads nothing of it', async () => {
    // A binding that does not verify names no tenant (so no row); the legacy plain setting is
    // read by nothing, so the customer still sees exactly its own.
    const forged: [string, string[]][] = [
      [`select set_config('tenantry.binding', '${OTHER}', true)`, []],
      [
        `select set_config('tenantry.binding', replace(current_setting('tenantry.binding'), '${CUSTOMER}', '${OTHER}'), true)`,
        [],
      ],
      [
        `select set_config('tenantry.binding', left(current_setting('tenantry.binding'), 65) || pg_backend_pid() || '.9999999999.${OTHER}', true)`,
        [],
      ],
      [`select set_config('tenantry.tenant_id', '${OTHER}', true)`, ['Kick-off']],
    ];
    for (const [forge, expected] of forged) {
      const seen = await asTenant(CUSTOMER, () =>
        tenantry.data.transaction(async (db) => {
          await db.query(forge);
          return (await db.query<{ title: string }>('select title from meetings')).rows.map((r) => r.title);
        }),
      );
      expect(seen, forge).not.toContain(SECRET);
      expect(seen, forge).toEqual(expected);
    }
    // A session-wide forgery does not outlive its statement's connection reset either.
    await asTenant(CUSTOMER, () =>
      tenantry.data.query(`select set_config('tenantry.binding', '${OTHER}', false)`),
    );
    const after = await asTenant(CUSTOMER, () =>
      tenantry.data.query<{ title: string }>('select title from meetings'),
    );
    expect(after.rows.map((r) => r.title)).toEqual(['Kick-off']);
    const untouched = await admin.query('select title from meetings where tenant_id = $1', [OTHER]);
    expect(untouched.rows).toEqual([{ title: SECRET }]);
  });

  it('attack: rows written for another tenant are refused by the policy', async () => {
    const written = asTenant(CUSTOMER, () =>
      tenantry.data.query(
        `insert into meetings (tenant_id, id, title, held_at, created_by) values ('${OTHER}', 'm-planted', 'PLANTED', now(), 'eve')`,
      ),
    );
    await expect(written).rejects.toThrow(/row-level security/);
    const planted = await admin.query(`select 1 from meetings where id = 'm-planted'`);
    expect(planted.rows).toEqual([]);
  });

  it("counts the seats in the app's data at open: the first count sees the data layer", async () => {
    await asTenant(CUSTOMER, () =>
      tenantry.data.query(
        `insert into meetings (id, title, held_at, created_by)
         select 'seat-' || n, 'Stand-up', now(), 'user-' || n from generate_series(1, 6) n`,
      ),
    );
    await tenantry.close();
    const warnings: string[] = [];
    const counts: number[] = [];
    tenantry = await Tenantry.open({
      license,
      builtInKeys: [vendor.publicJwk],
      restrictedMode: 'read-only',
      stateDirectory,
      checkEveryMs: 0,
      databaseUrl: urlAs(appRole),
      data: { bindingKey, max: 1 },
      onWarning: (message) => warnings.push(message),
      // As examples/minutes does: the users who wrote meetings, as the customer.
      seatsInUse: async (opened) => {
        const { rows } = await asTenant(CUSTOMER, () =>
          opened.data.query<{ users: number }>(
            'select count(distinct created_by)::int as users from meetings',
          ),
        );
        counts.push(rows[0]?.users ?? -1);
        return rows[0]?.users ?? 0;
      },
    });
    // alice (m1) and the six: one count, once Tenantry.open had opened the data layer.
    expect(counts).toEqual([7]);
    expect(warnings).toEqual([
      '7 seats in use, more than the 5 license lic_dataonlicense of Self-hosted Customer allows: add seats to it',
    ]);
  });

  it('refuses to start as a role that bypasses row-level security, as in SaaS', async () => {
    const server = new URL(adminUrl);
    const unsafeState = await mkdtemp(join(tmpdir(), 'tenantry-data-on-license-unsafe-'));
    const unsafe = await Tenantry.open({
      license,
      builtInKeys: [vendor.publicJwk],
      restrictedMode: 'read-only',
      stateDirectory: unsafeState,
      checkEveryMs: 0,
      databaseUrl: urlAs(decodeURIComponent(server.username)),
      data: { bindingKey },
    });
    try {
      await expect(asTenant(CUSTOMER, () => unsafe.data.query('select title from meetings'))).rejects.toThrow(
        RowLevelSecurityError,
      );
    } finally {
      await unsafe.close();
      await rm(unsafeState, { recursive: true, force: true });
    }
  });
});
