// Tenantry.open({ license }) against a real control plane (issue 13): check-ins made as the
// install's own identity, a renewed license answered from at once, a revocation obeyed, and a
// license bound to one install refused on another. The install's clock is the control plane's.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { provisionedTenant, query } from '../../../server/test/tenant-support.ts';
import { type ControlPlaneFixture, startControlPlane } from '../../test/control-plane-fixture.ts';
import { runAsTenant } from '../context/index.ts';
import { LicenseError } from '../license/index.ts';
import { type LicenseTenantryOptions, type SelfHostedTenantry, Tenantry } from '../tenantry.ts';
import { LICENSE_FILE, openInstallIdentity, readInstallIdentity } from './index.ts';

let cp: ControlPlaneFixture;
let keys: JWK[];
let directory: string;
let warnings: string[];

beforeAll(async () => {
  cp = await startControlPlane();
  const created = await cp.t.request({ method: 'POST', url: '/v1/license-keys' });
  expect(created.status).toBe(201);
  keys = [created.body.public_jwk];
});
afterAll(() => cp.close());
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tenantry-self-hosted-check-in-'));
  warnings = [];
});
afterEach(() => rm(directory, { recursive: true, force: true }));

async function issued(payload: Record<string, unknown> = {}, tenantId?: string) {
  const tenant = tenantId ?? (await provisionedTenant(cp.t, { plan: 'pro' })).id;
  const response = await cp.t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/licenses`,
    payload: { days: 365, ...payload },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { tenant: tenant as string, id: response.body.id as string, token: response.body.token as string };
}

function options(file: string, stateDirectory: string, checkIn = true): LicenseTenantryOptions {
  return {
    license: { file },
    builtInKeys: keys,
    restrictedMode: 'read-only',
    stateDirectory,
    clock: cp.t.clock,
    onWarning: (message) => warnings.push(message),
    checkEveryMs: 0,
    ...(checkIn ? { checkIn: { url: cp.url, version: '4.2.0' } } : {}),
  };
}

const as =
  (tenant: string) =>
  <T>(fn: () => T): T =>
    runAsTenant({ tenantId: tenant, subject: 'u1', roles: [] }, fn);

describe('Tenantry.open({ license, checkIn })', () => {
  it('checks in as the install, answers from a renewed license at once, and obeys a revocation', async () => {
    const first = await issued({ seats: 20 });
    const file = join(directory, 'license.jwt');
    await writeFile(file, `${first.token}\n`);
    const state = join(directory, 'state');
    const tenantry: SelfHostedTenantry = await Tenantry.open(options(file, state));
    const asCustomer = as(first.tenant);
    try {
      expect(tenantry.license.status).toMatchObject({ license_id: first.id, seq: 1, state: 'valid' });
      expect(asCustomer(() => tenantry.snapshot().seats)).toBe(20);
      expect(asCustomer(() => tenantry.can('sso'))).toBe(true);
      // The check-in named the install's own id and carried its own key.
      const rows = await query(
        cp.t,
        `select install_id, install_public_jwk, version from tenantry.license_check_ins where tenant_id = '${first.tenant}'`,
      );
      expect(rows).toEqual([
        {
          install_id: tenantry.install.id,
          install_public_jwk: { kty: 'OKP', crv: 'Ed25519', x: tenantry.install.publicJwk.x },
          version: '4.2.0',
        },
      ]);

      const renewed = await issued({ seats: 99 }, first.tenant);
      cp.t.clock.advance(3_600_000);
      await tenantry.license.check();
      // The running app answers from the new license without a restart.
      expect(tenantry.license.status).toMatchObject({ license_id: renewed.id, seq: 2, state: 'valid' });
      expect(asCustomer(() => tenantry.snapshot().seats)).toBe(99);
      expect(asCustomer(() => tenantry.can('sso'))).toBe(true);
      expect(await asCustomer(() => tenantry.consume('meetings'))).toEqual({ allowed: true, overage: false });
      expect(asCustomer(() => tenantry.limit('meetings'))).toMatchObject({ limit: 1000, used: 1 });
      // Written where it came from, and kept as what the next usage report carries.
      expect((await readFile(file, 'utf8')).trim()).toBe(renewed.token);
      expect((await readFile(join(state, LICENSE_FILE), 'utf8')).trim()).toBe(renewed.token);

      const revoked = await cp.t.request({
        method: 'POST',
        url: `/v1/licenses/${renewed.id}/revoke`,
        payload: {},
      });
      expect(revoked.status).toBe(200);
      cp.t.clock.advance(3_600_000);
      const refused = await tenantry.license.check().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(LicenseError);
      expect((refused as LicenseError).code).toBe('revoked');
      expect(tenantry.license.status.state).toBe('refused');
      expect(tenantry.license.readOnly).toBe(true);
      expect(asCustomer(() => tenantry.can('sso'))).toBe(false);
      expect(asCustomer(() => tenantry.limit('meetings'))).toMatchObject({ limit: 0, remaining: 0 });
      // Every limit is a hard 0, soft ones too (meetings is soft in the plan): no use gets through.
      expect(await asCustomer(() => tenantry.consume('meetings'))).toMatchObject({ allowed: false });
    } finally {
      await tenantry.close();
    }
    // And it stays refused at the next start.
    const restart = await Tenantry.open(options(file, state)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((restart as LicenseError).code).toBe('revoked');
  });
});

describe('Tenantry.open({ license, revocationList })', () => {
  it('an air-gapped install refuses its license once the list carried in names it, and at every start after', async () => {
    const license = await issued();
    const file = join(directory, 'license.jwt');
    await writeFile(file, `${license.token}\n`);
    const listFile = join(directory, 'revocations.jwt');
    const carryIn = async () => {
      const list = await cp.t.request({ method: 'GET', url: '/v1/license-revocations' });
      expect(list.status).toBe(200);
      await writeFile(listFile, list.body.list);
    };
    await carryIn();
    const state = join(directory, 'state');
    const airGapped = { ...options(file, state, false), revocationList: { file: listFile } };
    const tenantry = await Tenantry.open(airGapped);
    const asCustomer = as(license.tenant);
    try {
      expect(asCustomer(() => tenantry.can('sso'))).toBe(true);
      const revoked = await cp.t.request({
        method: 'POST',
        url: `/v1/licenses/${license.id}/revoke`,
        payload: {},
      });
      expect(revoked.status).toBe(200);
      await carryIn();
      const refused = await tenantry.license.check().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect((refused as LicenseError).code).toBe('revoked');
      expect(asCustomer(() => tenantry.can('sso'))).toBe(false);
      expect(tenantry.license.readOnly).toBe(true);
    } finally {
      await tenantry.close();
    }
    // The list taken away again does not undo it.
    await rm(listFile);
    const restart = await Tenantry.open(airGapped).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(restart).toBeInstanceOf(LicenseError);
    expect((restart as LicenseError).code).toBe('revoked');
  });
});

describe('a license bound to an install', () => {
  it('runs on its install and is refused, naming both, when copied to another (with or without check-ins)', async () => {
    const stateA = join(directory, 'a');
    const a = await openInstallIdentity(stateA);
    const bound = await issued({ install: a.id });
    const file = join(directory, 'license.jwt');
    await writeFile(file, `${bound.token}\n`);

    const onA = await Tenantry.open(options(file, stateA));
    expect(onA.license.status).toMatchObject({ license_id: bound.id, state: 'valid' });
    await onA.close();

    // The attack: the same file on another install, online and air-gapped.
    for (const checkIn of [true, false]) {
      const stateB = join(directory, `b-${checkIn}`);
      const error = await Tenantry.open(options(file, stateB, checkIn)).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(LicenseError);
      const b = await readInstallIdentity(stateB);
      expect(b?.id).toMatch(/^inst_/);
      expect(b?.id).not.toBe(a.id);
      expect((error as LicenseError).code).toBe('install_mismatch');
      expect((error as LicenseError).message).toBe(
        `license refused: license ${bound.id} of ${(await cp.t.request({ method: 'GET', url: `/v1/tenants/${bound.tenant}` })).body.name} is bound to install "${a.id}", not to this install "${b?.id}": install the license issued for this install`,
      );
    }
    // Refused before any check-in: the control plane never heard of the copy.
    const checkIns = await query(
      cp.t,
      `select install_id from tenantry.license_check_ins where tenant_id = '${bound.tenant}'`,
    );
    expect(checkIns).toEqual([{ install_id: a.id }]);
  });
});
