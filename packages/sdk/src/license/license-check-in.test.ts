// The license guard's check-ins against a real control plane on a real port (issue 13): each
// protection is shown by the attack it stops. The guard's clock is the control plane's test clock,
// so days pass for both at once.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signCheckInResponse } from '@tenantry/core';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyPlans, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { type ControlPlaneFixture, deadUrl, startControlPlane } from '../../test/control-plane-fixture.ts';
import { LicenseError, LicenseGuard, type LicenseGuardOptions } from './index.ts';

const DAY_MS = 86_400_000;

let cp: ControlPlaneFixture;
let dead: string;
let keys: JWK[];
let directory: string;
let stateFile: string;
let warnings: string[];

interface Install {
  readonly id: string;
  readonly publicJwk: JWK;
}

async function install(id: string): Promise<Install> {
  const { publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  return { id, publicJwk: await exportJWK(publicKey) };
}

beforeAll(async () => {
  cp = await startControlPlane();
  await applyPlans(cp.t);
  const created = await cp.t.request({ method: 'POST', url: '/v1/license-keys' });
  expect(created.status).toBe(201);
  keys = [created.body.public_jwk];
  dead = await deadUrl();
});
afterAll(() => cp.close());
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tenantry-license-check-in-'));
  stateFile = join(directory, 'license-state.json');
  warnings = [];
});
afterEach(() => rm(directory, { recursive: true, force: true }));

/** A license issued through the API to a fresh tenant, and the tenant. */
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

function options(
  license: LicenseGuardOptions['license'],
  who: Install,
  extra: Partial<LicenseGuardOptions> & { url?: string; fetch?: typeof fetch } = {},
): LicenseGuardOptions {
  const { url, fetch: fetcher, ...rest } = extra;
  return {
    license,
    builtInKeys: keys,
    stateFile,
    restrictedMode: 'read-only',
    clock: cp.t.clock,
    onWarning: (message) => warnings.push(message),
    checkIn: {
      url: url ?? cp.url,
      version: '4.2.0',
      install: who,
      ...(fetcher === undefined ? {} : { fetch: fetcher }),
    },
    ...rest,
  };
}

async function refusal(opening: Promise<unknown>): Promise<LicenseError> {
  const error = await opening.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(LicenseError);
  expect((error as Error).message).toMatch(/^license refused: [^\n]+$/);
  return error as LicenseError;
}

const state = async () => JSON.parse(await readFile(stateFile, 'utf8'));

/** A fetch that answers every check-in with `body`, as a man in the middle would. */
const answering =
  (body: unknown): typeof fetch =>
  async () =>
    new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });

describe('LicenseGuard check-ins', () => {
  it('checks in on open and on each check: the control plane lists the install, the state keeps the time', async () => {
    const license = await issued({ seats: 20 });
    const me = await install('inst-open');
    const guard = await LicenseGuard.open(options(license.token, me, { seatsInUse: () => 7 }));
    expect(guard.status.state).toBe('valid');
    expect((await state()).last_check_in).toBe(cp.t.clock.now().toISOString());
    cp.t.clock.advance(3_600_000);
    await guard.check();
    expect((await state()).last_check_in).toBe(cp.t.clock.now().toISOString());

    const installs = await cp.t.request({
      method: 'GET',
      url: `/v1/tenants/${license.tenant}/license-installs`,
    });
    expect(installs.body.data).toEqual([
      expect.objectContaining({ install_id: 'inst-open', version: '4.2.0', seats_in_use: 7, check_ins: 2 }),
    ]);
    expect(warnings).toEqual([]);
  });

  it('a license revoked on the control plane is refused at the next check, saying when; and at every start after', async () => {
    const license = await issued();
    const me = await install('inst-revoked');
    const guard = await LicenseGuard.open(options(license.token, me));
    cp.t.clock.advance(60_000);
    const revoked = await cp.t.request({
      method: 'POST',
      url: `/v1/licenses/${license.id}/revoke`,
      payload: {},
    });
    expect(revoked.status).toBe(200);
    cp.t.clock.advance(60_000);
    const refused = await refusal(guard.check());
    expect(refused.code).toBe('revoked');
    // The answer carries the time in whole seconds (a NumericDate).
    const revokedAt = new Date(Math.floor(Date.parse(revoked.body.revoked_at) / 1000) * 1000).toISOString();
    expect(refused.message).toMatch(
      new RegExp(
        `^license refused: license ${license.id} of .+ was revoked on ${revokedAt}: install a new license$`,
      ),
    );
    expect(guard.status.state).toBe('refused');
    expect(guard.readOnly).toBe(true);
    // The control plane down does not bring it back: the state remembers the revocation.
    expect((await refusal(LicenseGuard.open(options(license.token, me, { url: dead })))).code).toBe(
      'revoked',
    );
  });

  it('superseded: the newest license is verified, written to the license file, run at once and after a restart', async () => {
    const old = await issued();
    const newer = await issued({ seats: 99 }, old.tenant);
    const file = join(directory, 'license.jwt');
    await writeFile(file, `${old.token}\n`);
    const me = await install('inst-superseded');
    const guard = await LicenseGuard.open(options({ file }, me));
    expect(guard.status).toMatchObject({ license_id: newer.id, seq: 2 });
    expect((await readFile(file, 'utf8')).trim()).toBe(newer.token);
    expect((await state()).seq).toEqual({ [old.tenant]: 2 });
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^license ${old.id} of .+ was superseded: now running on license ${newer.id} \\(seq 2\\), written to ${file}$`,
        ),
      ),
    ]);

    // A restart with the control plane unreachable runs on the newest license.
    const restarted = await LicenseGuard.open(options({ file }, me, { url: dead }));
    expect(restarted.status).toMatchObject({ license_id: newer.id, seq: 2, state: 'valid' });
    // And the old license, put back, is a rollback.
    await writeFile(file, old.token);
    expect((await refusal(LicenseGuard.open(options({ file }, me, { url: dead })))).code).toBe(
      'sequence_rollback',
    );
  });

  it('offline: warns while the allowance lasts, then refuses naming the last check-in and the allowance', async () => {
    const license = await issued({ offline_days: 3 });
    const me = await install('inst-offline');
    let down = false;
    const fetcher: typeof fetch = (input, init) =>
      fetch(down ? String(input).replace(cp.url, dead) : input, init);
    const guard = await LicenseGuard.open(options(license.token, me, { fetch: fetcher }));
    const lastCheckIn = cp.t.clock.now().toISOString();
    down = true;
    cp.t.clock.advance(2 * DAY_MS);
    expect((await guard.check()).state).toBe('valid');
    const until = new Date(Date.parse(lastCheckIn) + 3 * DAY_MS).toISOString();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      new RegExp(
        `^check-in failed: cannot reach ${cp.url}/v1/licenses/check-in: fetch failed: connect ECONNREFUSED .+; license ${license.id} of .+ runs offline until ${until}$`,
      ),
    );

    cp.t.clock.advance(DAY_MS + 60_000);
    const refused = await refusal(guard.check());
    expect(refused.code).toBe('offline_too_long');
    expect(refused.message).toContain(
      `allows 3 days without a check-in; the last successful check-in was on ${lastCheckIn} (check-in failed: cannot reach`,
    );
    // Back online, it checks in and runs again.
    down = false;
    expect((await LicenseGuard.open(options(license.token, me, { fetch: fetcher }))).status.state).toBe(
      'valid',
    );
  });

  it('offline_days 0: with the control plane down, the app does not start', async () => {
    const license = await issued({ offline_days: 0 });
    const refused = await refusal(
      LicenseGuard.open(options(license.token, await install('inst-zero'), { url: dead })),
    );
    expect(refused.code).toBe('offline_too_long');
    expect(refused.message).toMatch(
      new RegExp(
        `^license refused: license ${license.id} of .+ must check in to run; there has been no successful check-in since it was issued on .+ \\(check-in failed: cannot reach ${dead}/v1/licenses/check-in: .+\\): connect the install to the control plane$`,
      ),
    );
    expect((await LicenseGuard.open(options(license.token, await install('inst-zero')))).status.state).toBe(
      'valid',
    );
  });

  it('attack: a forged check-in answer (signed by another key, or altered) does not count as a check-in', async () => {
    const license = await issued({ offline_days: 0 });
    const me = await install('inst-forged');
    const real = (await (
      await fetch(`${cp.url}/v1/licenses/check-in`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          license: license.token,
          install_id: me.id,
          version: '1',
          install_public_jwk: me.publicJwk,
        }),
      })
    ).json()) as { response: string };
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const [, payload] = real.response.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const forged = await signCheckInResponse(claims, {
      kid: keys[0]?.kid as string,
      privateJwk: await exportJWK(privateKey),
    });
    const [header, , signature] = real.response.split('.');
    const altered = `${header}.${Buffer.from(JSON.stringify({ ...claims, status: 'active', seats_licensed: 10_000 })).toString('base64url')}.${signature}`;
    for (const response of [forged, altered]) {
      const refused = await refusal(
        LicenseGuard.open(options(license.token, me, { fetch: answering({ response }) })),
      );
      expect(refused.code).toBe('offline_too_long');
      expect(refused.message).toContain(
        `(check-in failed: the check-in answer is refused: check-in response signature does not verify with key "${keys[0]?.kid}")`,
      );
    }
  });

  it("attack: another install's answer, or an old one, replayed, does not count as a check-in", async () => {
    const license = await issued({ offline_days: 0 });
    const a = await install('inst-a');
    let captured: unknown;
    const recording: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      captured = await response.clone().json();
      return response;
    };
    await LicenseGuard.open(options(license.token, a, { fetch: recording }));

    const b = await install('inst-b');
    const forB = await refusal(LicenseGuard.open(options(license.token, b, { fetch: answering(captured) })));
    expect(forB.message).toContain(
      `the check-in answer is refused: it is for license ${license.id} of install "inst-a", not ${license.id} of "inst-b" (replayed)`,
    );
    // Install a, later, fed its own earlier answer: too old.
    cp.t.clock.advance(3_600_000);
    const stale = await refusal(LicenseGuard.open(options(license.token, a, { fetch: answering(captured) })));
    expect(stale.message).toMatch(
      /the check-in answer is refused: it was signed at .+, more than 5 minutes before now \(replayed, or this install's clock is ahead\)/,
    );
  });

  it("attack: a copy of the license checking in as another install's id with its own key is refused (409)", async () => {
    const license = await issued({ offline_days: 0 });
    const genuine = await install('inst-shared');
    await LicenseGuard.open(options(license.token, genuine));
    const impostor = await install('inst-shared');
    const refused = await refusal(LicenseGuard.open(options(license.token, impostor)));
    expect(refused.code).toBe('offline_too_long');
    expect(refused.message).toContain(
      `answered 409 install_key_mismatch: install "inst-shared" checked in before with another key (x ${genuine.publicJwk.x})`,
    );
    // The genuine install still checks in.
    expect((await LicenseGuard.open(options(license.token, genuine))).status.state).toBe('valid');
  });

  it('the revocation list from the control plane, carried in as a file, refuses the license it names', async () => {
    const license = await issued();
    const listFile = join(directory, 'revocations.jwt');
    const air = (extra: Partial<LicenseGuardOptions> = {}): LicenseGuardOptions => {
      const { checkIn: _none, ...offline } = options(license.token, { id: 'unused', publicJwk: {} });
      return { ...offline, revocationList: { file: listFile }, ...extra };
    };
    const fetchList = async () => {
      const response = await cp.t.request({ method: 'GET', url: '/v1/license-revocations' });
      expect(response.status).toBe(200);
      await writeFile(listFile, `${response.body.list}\n`);
      return response.body;
    };
    const before = await fetchList();
    expect((await LicenseGuard.open(air())).status.state).toBe('valid');
    cp.t.clock.advance(60_000);
    await cp.t.request({ method: 'POST', url: `/v1/licenses/${license.id}/revoke`, payload: {} });
    const after = await fetchList();
    expect(after.seq).toBe(before.seq + 1);
    const refused = await refusal(LicenseGuard.open(air()));
    expect(refused.code).toBe('revoked');
    expect(refused.message).toContain(`license ${license.id} of`);
  });
});
