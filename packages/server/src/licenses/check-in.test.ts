import {
  type LicenseKeyring,
  licenseKeyring,
  verifyCheckInResponse,
  verifyRevocationList,
} from '@tenantry/core';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, auditCount, DAY_MS, provisionedTenant, query } from '../../test/tenant-support.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
});
afterAll(() => t.close());

async function issued(tenant: string, payload: Record<string, unknown> = { days: 365 }): Promise<any> {
  const response = await t.request({ method: 'POST', url: `/v1/tenants/${tenant}/licenses`, payload });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

/** A check-in as an install sends it: no API key, the license in the body. */
const checkIn = (payload: Record<string, unknown>) =>
  t.request({ method: 'POST', url: '/v1/licenses/check-in', payload, headers: { authorization: '' } });

async function keyring(): Promise<LicenseKeyring> {
  const listed = await t.request({ method: 'GET', url: '/v1/license-keys' });
  const built = licenseKeyring(listed.body.data.map((key: any) => key.public_jwk));
  if (!built.ok) throw new Error(built.error.message);
  return built.value;
}

/** The signed response's claims, verified as the SDK will. */
async function answered(body: any) {
  const result = await verifyCheckInResponse(body.response, await keyring(), { now: t.clock.now() });
  if (!result.ok) throw new Error(result.error.message);
  return result.value.claims;
}

async function publicX(): Promise<string> {
  const { publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  return (await exportJWK(publicKey)).x as string;
}

async function written(): Promise<{ checkIns: number; audit: number; events: number }> {
  const [row] = await query<{ c: number; e: number }>(
    t,
    `select (select count(*) from tenantry.license_check_ins)::int as c,
            (select count(*) from tenantry.domain_events)::int as e`,
  );
  return { checkIns: Number(row?.c), audit: await auditCount(t), events: Number(row?.e) };
}

describe('POST /v1/licenses/check-in', () => {
  test('a valid license answers a signed response: active, the newest its own; audited and announced in one transaction', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id, { days: 365, seats: 5 });
    const response = await checkIn({
      license: license.token,
      install_id: 'inst-a',
      version: '1.2.0',
      seats_in_use: 3,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toMatchObject({ status: 'active', newest_license_id: license.id });
    const claims = await answered(response.body);
    expect(claims).toEqual({
      license_id: license.id,
      status: 'active',
      newest: license.token,
      install_id: 'inst-a',
      iat: Math.floor(t.clock.now().getTime() / 1000),
      seats_licensed: 5,
      revoked_at: null,
    });

    const [audit] = await query<any>(
      t,
      `select xmin::text as x, actor_type, actor_id, target_id, data from tenantry.audit_events where action = 'license.checked_in' and tenant_id = '${tenant.id}'`,
    );
    const [event] = await query<any>(
      t,
      `select xmin::text as x, data from tenantry.domain_events where type = 'license.checked_in' and tenant_id = '${tenant.id}'`,
    );
    const [row] = await query<any>(
      t,
      `select xmin::text as x from tenantry.license_check_ins where tenant_id = '${tenant.id}'`,
    );
    expect(audit).toMatchObject({
      actor_type: 'system',
      actor_id: 'license-check-in',
      target_id: license.id,
    });
    expect(event.data).toEqual({
      license_id: license.id,
      tenant_id: tenant.id,
      install_id: 'inst-a',
      version: '1.2.0',
      seats_in_use: 3,
      seats_licensed: 5,
    });
    expect(event.x).toBe(audit.x);
    expect(row.x).toBe(audit.x);
  });

  test('a license bound to one install is refused when another checks in with it, and nothing is written', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id, { days: 365, install: 'inst-bound' });
    const before = await written();
    const copied = await checkIn({ license: license.token, install_id: 'inst-copy', version: '1.0.0' });
    expect(copied.status).toBe(401);
    expect(copied.body).toMatchObject({
      code: 'license_invalid',
      refusal: 'install_mismatch',
      detail: `license ${license.id} is bound to install "inst-bound", not "inst-copy"`,
    });
    expect(await written()).toEqual(before);
    const own = await checkIn({ license: license.token, install_id: 'inst-bound', version: '1.0.0' });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
  });

  test('the row keeps the first sighting and counts check-ins; the installs list shows the last version and the last seats counted', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id);
    const first = t.clock.now().toISOString();
    expect(
      (await checkIn({ license: license.token, install_id: 'inst-b', version: '1.0.0', seats_in_use: 2 }))
        .status,
    ).toBe(200);
    t.clock.advance(60_000);
    expect((await checkIn({ license: license.token, install_id: 'inst-b', version: '1.1.0' })).status).toBe(
      200,
    );
    expect(
      (await checkIn({ license: license.token, install_id: 'inst-c', version: '2.0.0', seats_in_use: 7 }))
        .status,
    ).toBe(200);

    const listed = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.slug}/license-installs?limit=1`,
    });
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.data).toEqual([
      {
        install_id: 'inst-b',
        license_id: license.id,
        license_status: 'active',
        license_current: true,
        version: '1.1.0',
        // The second check-in counted no seats: the first one's count stays.
        seats_in_use: 2,
        first_seen_at: first,
        last_check_in_at: t.clock.now().toISOString(),
        check_ins: 2,
      },
    ]);
    expect(listed.body.next_cursor).toBe('inst-b');
    const next = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/license-installs?limit=1&cursor=${listed.body.next_cursor}`,
    });
    expect(next.body.data.map((i: any) => [i.install_id, i.seats_in_use, i.check_ins])).toEqual([
      ['inst-c', 7, 1],
    ]);
    expect(next.body.next_cursor).toBeNull();
  });

  test('after a re-issue the old license answers superseded with the newest token; after revoking, revoked', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const old = await issued(tenant.id);
    const newer = await issued(tenant.id);
    const superseded = await checkIn({ license: old.token, install_id: 'inst-d', version: '1.0.0' });
    expect(superseded.status).toBe(200);
    expect(superseded.body).toMatchObject({ status: 'superseded', newest_license_id: newer.id });
    expect(await answered(superseded.body)).toMatchObject({ status: 'superseded', newest: newer.token });
    const installs = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/license-installs` });
    expect(installs.body.data[0]).toMatchObject({
      license_id: old.id,
      license_status: 'superseded',
      license_current: false,
    });

    const revoke = await t.request({ method: 'POST', url: `/v1/licenses/${newer.id}/revoke`, payload: {} });
    expect(revoke.status).toBe(200);
    const revoked = await checkIn({ license: newer.token, install_id: 'inst-d', version: '1.0.1' });
    expect(revoked.body).toMatchObject({ status: 'revoked', newest_license_id: null });
    expect(await answered(revoked.body)).toMatchObject({
      status: 'revoked',
      newest: null,
      license_id: newer.id,
      revoked_at: Math.floor(Date.parse(revoke.body.revoked_at) / 1000),
    });
  });

  test('an expired license still checks in and answers expired', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id, { days: 1, grace_days: 0 });
    t.clock.advance(2 * DAY_MS);
    const response = await checkIn({ license: license.token, install_id: 'inst-e', version: '1.0.0' });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.status).toBe('expired');
    expect((await answered(response.body)).status).toBe('expired');
  });

  test('a tampered license is a 401 license_invalid naming the refusal, and nothing is written', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id);
    const [header, payload, signature] = (license.token as string).split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, seats: 1000 })).toString('base64url')}.${signature}`;
    const before = await written();
    const response = await checkIn({ license: forged, install_id: 'inst-f', version: '1.0.0' });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ code: 'license_invalid', refusal: 'bad_signature' });
    const garbage = await checkIn({ license: 'not-a-license', install_id: 'inst-f', version: '1.0.0' });
    expect(garbage.status).toBe(401);
    expect(garbage.body).toMatchObject({ code: 'license_invalid', refusal: 'malformed' });
    expect(await written()).toEqual(before);
  });

  test('bad input is a 400 naming the field, and nothing is written', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id);
    const before = await written();
    const cases: [Record<string, unknown>, string][] = [
      [{ license: license.token, install_id: '', version: '1' }, 'install_id'],
      [{ license: license.token, install_id: 'x'.repeat(201), version: '1' }, 'install_id'],
      [{ license: license.token, install_id: 'i', version: 'v'.repeat(101) }, 'version'],
      [{ license: license.token, install_id: 'i', version: '1', seats_in_use: -1 }, 'seats_in_use'],
      [{ license: license.token, install_id: 'i', version: '1', seats_in_use: 1.5 }, 'seats_in_use'],
      [{ install_id: 'i', version: '1' }, 'license'],
    ];
    for (const [payload, field] of cases) {
      const response = await checkIn(payload);
      expect(response.status, JSON.stringify(payload)).toBe(400);
      expect(JSON.stringify(response.body.errors)).toContain(field);
    }
    expect(await written()).toEqual(before);
  });

  test('attack: another key for an install on record is a 409 install_key_mismatch, and nothing is written', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id);
    const ours = { kty: 'OKP', crv: 'Ed25519', x: await publicX() };
    const theirs = { kty: 'OKP', crv: 'Ed25519', x: await publicX() };
    const send = (key?: object) =>
      checkIn({
        license: license.token,
        install_id: 'inst-k',
        version: '1.0.0',
        ...(key === undefined ? {} : { install_public_jwk: key }),
      });
    // An install that first checked in without a key may add one; from then on it is its own.
    expect((await send()).status).toBe(200);
    expect((await send({ ...ours, kid: 'install', alg: 'EdDSA', use: 'sig' })).status).toBe(200);
    expect((await send(ours)).status).toBe(200);
    const [stored] = await query<any>(
      t,
      `select install_public_jwk from tenantry.license_check_ins where tenant_id = '${tenant.id}'`,
    );
    expect(stored.install_public_jwk).toEqual(ours);

    const before = await written();
    for (const key of [theirs, undefined]) {
      const response = await send(key);
      expect(response.status, JSON.stringify(key)).toBe(409);
      expect(response.body.code).toBe('install_key_mismatch');
      expect(response.body.detail).toContain(
        `install "inst-k" checked in before with another key (x ${ours.x})`,
      );
    }
    expect(await written()).toEqual(before);
    // Another install id is another install: its key is its own.
    const other = await checkIn({
      license: license.token,
      install_id: 'inst-k2',
      version: '1.0.0',
      install_public_jwk: theirs,
    });
    expect(other.status).toBe(200);
  });

  test('an install key that is not an Ed25519 public key is a 400 naming the member', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id);
    const x = await publicX();
    const cases: [Record<string, unknown>, string][] = [
      [{ kty: 'OKP', crv: 'Ed25519', x, d: x }, 'd'],
      [{ kty: 'EC', crv: 'P-256', x }, 'kty'],
      [{ kty: 'OKP', crv: 'Ed25519', x: 'short' }, 'x'],
    ];
    for (const [key, member] of cases) {
      const response = await checkIn({
        license: license.token,
        install_id: 'inst-bad',
        version: '1',
        install_public_jwk: key,
      });
      expect(response.status, JSON.stringify(key)).toBe(400);
      expect(JSON.stringify(response.body.errors)).toContain(member);
    }
  });

  test('the installs list answers 404 for an unknown tenant', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/tenants/nope/license-installs' });
    expect(response.status).toBe(404);
  });
});

describe('GET /v1/license-revocations', () => {
  async function fetched() {
    const response = await t.request({ method: 'GET', url: '/v1/license-revocations' });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const verified = await verifyRevocationList(response.body.list, await keyring(), { now: t.clock.now() });
    if (!verified.ok) throw new Error(verified.error.message);
    return { body: response.body, claims: verified.value.claims };
  }

  test('a list signed now names every revoked license, and each revocation moves its seq up', async () => {
    const first = await fetched();
    expect(first.body).toMatchObject({ seq: first.claims.seq, revoked: first.claims.revoked.length });
    expect(first.claims.iat).toBe(Math.floor(t.clock.now().getTime() / 1000));

    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id);
    t.clock.advance(60_000);
    const revoke = await t.request({ method: 'POST', url: `/v1/licenses/${license.id}/revoke`, payload: {} });
    expect(revoke.status).toBe(200);
    const second = await fetched();
    expect(second.claims.seq).toBe(first.claims.seq + 1);
    expect(second.claims.revoked).toContainEqual({
      license_id: license.id,
      revoked_at: Math.floor(Date.parse(revoke.body.revoked_at) / 1000),
    });
    expect(second.claims.revoked).toHaveLength(first.claims.revoked.length + 1);
    // A license re-issued (superseded) is not revoked: it is not listed.
    const superseded = await issued(tenant.id);
    await issued(tenant.id);
    const third = await fetched();
    expect(third.claims.seq).toBe(second.claims.seq);
    expect(third.claims.revoked.map((r) => r.license_id)).not.toContain(superseded.id);
  });

  test('needs licenses:read', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'tenants only', scopes: ['tenants:read'] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const response = await t.request({
      method: 'GET',
      url: '/v1/license-revocations',
      headers: { authorization: `Bearer ${created.body.secret}` },
    });
    expect(response.status).toBe(403);
  });
});
