import { createHmac } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  ingest,
  invoicesOf,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { query } from '../../test/tenant-support.ts';
import {
  InstallChain,
  type InstallKey,
  installKey,
  reportClaims,
  signReport,
} from '../../test/usage-report-support.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
  expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
});
afterAll(() => t.close());

const USAGE_REPORT_TYPE = 'tenantry-usage-report+jwt';

/** A tenant on Starter (CPU hours at 0.05) made at the clock's time, and a license issued to it. */
async function licensed(payload: Record<string, unknown> = {}): Promise<{ tenant: any; license: any }> {
  const tenant = await billedTenant(t, { plan: 'starter', seats: 1 });
  const issued = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/licenses`,
    payload: { days: 365, ...payload },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  return { tenant, license: issued.body };
}

const importReport = (report: string, tenant?: string) =>
  t.request({
    method: 'POST',
    url: '/v1/usage-reports',
    payload: { report, ...(tenant === undefined ? {} : { tenant }) },
  });

/** Everything an import writes: reports, events, rollups, audit entries and domain events. */
async function written(): Promise<Record<string, number>> {
  const [row] = await query<Record<string, number>>(
    t,
    `select (select count(*) from tenantry.usage_reports)::int as reports,
            (select count(*) from tenantry.usage_events)::int as events,
            (select coalesce(sum(sum), 0)::float8 from tenantry.usage_rollups) as rolled,
            (select count(*) from tenantry.audit_events)::int as audit,
            (select count(*) from tenantry.domain_events)::int as domain_events`,
  );
  if (row === undefined) throw new Error('no counts');
  return row;
}

const cpu = (id: string, value: number, time: string) => ({
  id,
  meter: 'cpu_hours',
  value,
  time,
  subject: 'ana',
});

describe('POST /v1/usage-reports', () => {
  it('imports a report: its events stored as usage, the report row, its audit entry and event in one transaction', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { tenant, license } = await licensed();
    const chain = new InstallChain({
      installId: 'inst-1',
      install: await installKey(),
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    setClock(t, '2026-11-10T00:05:00Z');
    const report = await chain.next('2026-11-10T00:00:00Z', [
      cpu('r1-a', 12.5, '2026-11-02T10:00:00Z'),
      cpu('r1-b', 7.5, '2026-11-09T23:59:59Z'),
    ]);
    const response = await importReport(report, tenant.slug);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body).toEqual({
      report: {
        tenant_id: tenant.id,
        install_id: 'inst-1',
        seq: 1,
        report_id: 'rep-inst-1-1',
        digest: chain.previous,
        key_thumbprint: await calculateJwkThumbprint(chain.install.publicKey),
        license_id: license.id,
        period: { from: '2026-11-01T00:00:00.000Z', to: '2026-11-10T00:00:00.000Z' },
        event_count: 2,
        totals: { cpu_hours: { sum: 20, count: 2 } },
        created_at: '2026-11-10T00:00:00.000Z',
        imported_at: '2026-11-10T00:05:00.000Z',
      },
      already_imported: false,
      accepted: 2,
      duplicates: 0,
    });

    const usage = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/usage?meter=cpu_hours&window=month`,
    });
    expect(usage.status, JSON.stringify(usage.body)).toBe(200);
    expect(usage.body.total).toBe(20);

    const [audit] = await query<any>(
      t,
      `select xmin::text as x, target_type, target_id, data from tenantry.audit_events where action = 'usage_report.imported' and tenant_id = '${tenant.id}'`,
    );
    const [event] = await query<any>(
      t,
      `select xmin::text as x, data from tenantry.domain_events where type = 'usage_report.imported' and tenant_id = '${tenant.id}'`,
    );
    const rows = await query<any>(
      t,
      `select xmin::text as x from tenantry.usage_reports where tenant_id = '${tenant.id}'
       union all select xmin::text from tenantry.usage_events where tenant_id = '${tenant.id}'`,
    );
    expect(audit).toMatchObject({ target_type: 'usage_report', target_id: 'inst-1/1' });
    expect(event.data).toEqual({
      tenant_id: tenant.id,
      install_id: 'inst-1',
      seq: 1,
      report_id: 'rep-inst-1-1',
      license_id: license.id,
      period: { from: '2026-11-01T00:00:00.000Z', to: '2026-11-10T00:00:00.000Z' },
      events: 2,
      accepted: 2,
      duplicates: 0,
    });
    expect(rows).toHaveLength(3);
    expect(new Set([audit.x, event.x, ...rows.map((r) => r.x)])).toEqual(new Set([audit.x]));
  });

  it('answers a replay with already_imported and writes nothing; a chain of reports lists by install and seq', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { tenant, license } = await licensed();
    const chains = await Promise.all(
      ['inst-a', 'inst-b'].map(
        async (installId) =>
          new InstallChain({
            installId,
            install: await installKey(),
            license: license.token,
            from: '2026-11-01T00:00:00Z',
          }),
      ),
    );
    setClock(t, '2026-11-20T00:00:00Z');
    const imported: string[] = [];
    for (const chain of chains) {
      for (const to of ['2026-11-05T00:00:00Z', '2026-11-12T00:00:00Z']) {
        const report = await chain.next(to, [cpu(`${chain.installId}-${to}`, 1, chain.to)]);
        const response = await importReport(report);
        expect(response.status, JSON.stringify(response.body)).toBe(201);
        imported.push(report);
      }
    }
    const before = await written();
    for (const report of imported) {
      const replay = await importReport(report, tenant.id);
      expect(replay.status, JSON.stringify(replay.body)).toBe(200);
      expect(replay.body).toMatchObject({ already_imported: true, accepted: 0, duplicates: 0 });
    }
    expect(await written()).toEqual(before);

    const pages: any[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await t.request({
        method: 'GET',
        url: `/v1/tenants/${tenant.slug}/usage-reports?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`,
      });
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      pages.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    expect(pages.map((r) => `${r.install_id}/${r.seq}`)).toEqual([
      'inst-a/1',
      'inst-a/2',
      'inst-b/1',
      'inst-b/2',
    ]);
    const one = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/usage-reports?install=inst-b`,
    });
    expect(one.body.data.map((r: any) => r.seq)).toEqual([1, 2]);
    expect(one.body.data[1].period).toEqual({
      from: '2026-11-05T00:00:00.000Z',
      to: '2026-11-12T00:00:00.000Z',
    });
  });

  it('counts an event already sent to POST /v1/events once: a duplicate, not new usage', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { tenant, license } = await licensed();
    setClock(t, '2026-11-03T00:00:00Z');
    await ingest(t, tenant.id, [cpu('both-ways', 5, '2026-11-02T00:00:00Z')]);
    const chain = new InstallChain({
      installId: 'inst-dup',
      install: await installKey(),
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    const report = await chain.next('2026-11-03T00:00:00Z', [
      cpu('both-ways', 5, '2026-11-02T00:00:00Z'),
      cpu('report-only', 2, '2026-11-02T01:00:00Z'),
    ]);
    const response = await importReport(report);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body).toMatchObject({ accepted: 1, duplicates: 1 });
    const usage = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/usage?meter=cpu_hours&window=month`,
    });
    expect(usage.body.total).toBe(7);
  });

  it('takes one of two reports racing for the same seq: the same one twice is imported once, two different ones fork', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { tenant, license } = await licensed();
    const chain = new InstallChain({
      installId: 'inst-race',
      install: await installKey(),
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    setClock(t, '2026-11-20T00:00:00Z');
    const first = await chain.next('2026-11-05T00:00:00Z', [cpu('race-1', 1, '2026-11-02T00:00:00Z')]);
    const twice = await Promise.all([importReport(first), importReport(first)]);
    expect(twice.map((r) => r.status).sort()).toEqual([200, 201]);
    const [left, right] = await Promise.all([
      signReport(
        chain.nextClaims('2026-11-10T00:00:00Z', [cpu('race-2a', 2, '2026-11-06T00:00:00Z')]),
        chain.install,
      ),
      signReport(
        chain.nextClaims('2026-11-10T00:00:00Z', [cpu('race-2b', 3, '2026-11-07T00:00:00Z')]),
        chain.install,
      ),
    ]);
    const forked = await Promise.all([importReport(left), importReport(right)]);
    expect(forked.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(forked.find((r) => r.status === 409)?.body.code).toBe('usage_report_fork');
    const [row] = await query<{ reports: number; events: number }>(
      t,
      `select (select count(*) from tenantry.usage_reports where tenant_id = '${tenant.id}')::int as reports,
              (select count(*) from tenantry.usage_events where tenant_id = '${tenant.id}')::int as events`,
    );
    expect(row).toEqual({ reports: 2, events: 2 });
  });

  it('refuses a report whose license this control plane signed but has no record of (its tenant was purged)', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { license } = await licensed();
    const install = await installKey();
    const report = await signReport(
      reportClaims({
        install,
        installId: 'inst-purged',
        license: license.token,
        seq: 1,
        previous: null,
        from: '2026-11-01T00:00:00Z',
        to: '2026-11-02T00:00:00Z',
        events: [],
      }),
      install,
    );
    await query(t, `delete from tenantry.licenses where id = '${license.id}'`);
    setClock(t, '2026-11-02T00:00:00Z');
    const before = await written();
    const refused = await importReport(report);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'usage_report_invalid', refusal: 'unknown_license' });
    expect(refused.body.detail).toBe(
      `the report's license ${license.id} is not one this control plane has on record`,
    );
    expect(await written()).toEqual(before);
  });

  it('bills imported usage, late usage too, exactly as the same events sent to POST /v1/events', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const saas = await billedTenant(t, { plan: 'starter', seats: 1 });
    const { tenant: offline, license } = await licensed();
    const chain = new InstallChain({
      installId: 'inst-bill',
      install: await installKey(),
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    const november = [cpu('n1', 100, '2026-11-10T10:00:00Z'), cpu('n2', 0.25, '2026-11-29T23:00:00Z')];
    setClock(t, '2026-11-30T00:00:00Z');
    await ingest(t, saas.id, november);
    expect((await importReport(await chain.next('2026-11-30T00:00:00Z', november))).status).toBe(201);
    setClock(t, '2026-12-01T00:00:00Z');
    await runInvoices(t, { tenant: saas.id });
    await runInvoices(t, { tenant: offline.id });

    // After November was invoiced: a late November event and a December one, in the next report.
    const later = [cpu('late-1', 40, '2026-11-30T10:00:00Z'), cpu('d1', 7, '2026-12-03T00:00:00Z')];
    setClock(t, '2026-12-06T00:00:00Z');
    await ingest(t, saas.id, later);
    expect((await importReport(await chain.next('2026-12-06T00:00:00Z', later))).status).toBe(201);
    setClock(t, '2027-01-01T00:00:00Z');
    const runs = [await runInvoices(t, { tenant: saas.id }), await runInvoices(t, { tenant: offline.id })];
    for (const run of runs)
      expect(run).toMatchObject({ invoices: 1, late_usage_invoices: 1, credit_notes: 0 });

    // The period invoice and the late-usage one of a run are made at one instant: in either order.
    const billed = async (tenantId: string) =>
      (await invoicesOf(t, tenantId))
        .map((doc) => ({
          object: doc.object,
          reason: doc.reason,
          status: doc.status,
          period: doc.period,
          total: doc.total,
          lines: doc.lines.map((line: any) => ({
            key: line.key,
            description: line.description,
            quantity: line.quantity,
            unit_amount: line.unit_amount,
            amount: line.amount,
            adjustment: line.adjustment,
          })),
        }))
        .sort((a, b) => `${a.period.start} ${a.reason}`.localeCompare(`${b.period.start} ${b.reason}`));
    const offlineBilled = await billed(offline.id);
    expect(offlineBilled).toEqual(await billed(saas.id));
    expect(offlineBilled.map((doc) => `${doc.reason} ${doc.total}`)).toEqual([
      'late_usage 2.00', // November's 40 late hours × 0.05, billed as SaaS late usage is
      'period 34.01', // November: 19.00 + 10.00 + 100.25 h × 0.05
      'period 29.35', // December: 19.00 + 10.00 + 7 h × 0.05
    ]);
  });
});

describe('POST /v1/usage-reports refuses attacks, each with its own reason, writing nothing', () => {
  interface Attack {
    readonly name: string;
    readonly token: string;
    readonly tenant?: string;
    readonly status: number;
    readonly code: string;
    readonly refusal?: string;
    readonly detail: RegExp;
  }

  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const forge = async (payload: unknown, header: Record<string, unknown>, key: InstallKey) =>
    new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'EdDSA', typ: USAGE_REPORT_TYPE, ...header })
      .sign(key.privateJwk);

  it('refuses at least 10 kinds of tampered, foreign, re-ordered or forked reports', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { tenant, license } = await licensed();
    const other = await licensed();
    const bound = await licensed({ install: 'inst-elsewhere' });
    const install = await installKey();
    const kid = await calculateJwkThumbprint(install.publicKey);
    const chain = new InstallChain({
      installId: 'inst-x',
      install,
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    setClock(t, '2026-11-20T00:00:00Z');
    // Report 1 is imported; the attacks come after it.
    const first = await chain.next('2026-11-05T00:00:00Z', [cpu('x1', 1, '2026-11-02T00:00:00Z')]);
    expect((await importReport(first)).status).toBe(201);
    const nextEvents = [cpu('x2', 3, '2026-11-06T00:00:00Z')];
    const second = chain.nextClaims('2026-11-10T00:00:00Z', nextEvents);
    const secondToken = await signReport(second, install);
    const [header, , signature] = secondToken.split('.');

    const stranger = await installKey();
    const pair = await generateKeyPair('EdDSA', { extractable: true });
    const [licenseHeader, licensePayload] = license.token.split('.');
    const otherVendorLicense = await new CompactSign(Buffer.from(licensePayload, 'base64url'))
      .setProtectedHeader(JSON.parse(Buffer.from(licenseHeader, 'base64url').toString()))
      .sign(pair.privateKey);
    const hmacInput = `${b64({ alg: 'HS256', typ: USAGE_REPORT_TYPE, kid })}.${b64(second)}`;
    const hmac = createHmac('sha256', Buffer.from(install.publicKey.x, 'base64url'))
      .update(hmacInput)
      .digest('base64url');
    const third = reportClaims({
      install,
      installId: 'inst-x',
      license: license.token,
      seq: 3,
      previous: 'a'.repeat(64),
      from: '2026-11-10T00:00:00Z',
      to: '2026-11-15T00:00:00Z',
      events: [],
    });
    const fresh = (installId: string, lic: string, events = nextEvents) =>
      reportClaims({
        install,
        installId,
        license: lic,
        seq: 1,
        previous: null,
        from: '2026-11-05T00:00:00Z',
        to: '2026-11-10T00:00:00Z',
        events,
      });

    const attacks: Attack[] = [
      {
        name: 'a changed byte in the payload',
        token: `${header}.${b64({ ...second, events: [cpu('x2', 0.5, '2026-11-06T00:00:00Z')], totals: { cpu_hours: { sum: 0.5, count: 1 } } })}.${signature}`,
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'bad_signature',
        detail: /signature does not verify/,
      },
      {
        name: 'a report of the install signed by another install key',
        token: await signReport({ ...second, install_key: stranger.publicKey }, stranger),
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'foreign_key',
        detail: /not by the key install "inst-x" pinned/,
      },
      {
        name: "another customer's license, imported as this tenant's",
        token: await signReport(fresh('inst-y', other.license.token), install),
        tenant: tenant.id,
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'other_tenant',
        detail: /was issued to tenant .*, not to/,
      },
      {
        name: "another vendor's license",
        token: await signReport(fresh('inst-z', otherVendorLicense), install),
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'license_refused',
        detail: /license is refused: license signature does not verify/,
      },
      {
        name: 'a license bound to another install',
        token: await signReport(fresh('inst-w', bound.license.token), install),
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'install_not_licensed',
        detail: /bound to install "inst-elsewhere"/,
      },
      {
        name: 're-ordered: report 3 before report 2',
        token: await signReport(third, install),
        status: 409,
        code: 'usage_report_gap',
        detail: /report 3 of install "inst-x" cannot be imported yet: report 2 is missing/,
      },
      {
        name: 'missing: an install whose first report never came',
        token: await signReport(
          { ...fresh('inst-v', license.token), seq: 3, previous: 'b'.repeat(64) },
          install,
        ),
        status: 409,
        code: 'usage_report_gap',
        detail: /reports 1 to 2 are missing/,
      },
      {
        name: 'a fork: another report 1',
        token: await signReport(
          {
            ...fresh('inst-x', license.token),
            period: { from: '2026-11-01T00:00:00Z', to: '2026-11-10T00:00:00Z' },
            created_at: '2026-11-10T00:00:00Z',
          },
          install,
        ),
        status: 409,
        code: 'usage_report_fork',
        detail: /report 1 of install "inst-x" was imported already with other content/,
      },
      {
        name: 'a fork: report 2 chained to another report 1',
        token: await signReport({ ...second, previous: 'c'.repeat(64) }, install),
        status: 409,
        code: 'usage_report_fork',
        detail: /follows a report 1 other than the one imported/,
      },
      {
        name: 'a period that leaves a hole after report 1',
        token: await signReport(
          {
            ...second,
            period: { from: '2026-11-06T00:00:00Z', to: '2026-11-10T00:00:00Z' },
            events: [],
            totals: {},
          },
          install,
        ),
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'period_not_contiguous',
        detail: /starts at 2026-11-06T00:00:00Z, but report 1 ended at/,
      },
      {
        name: 'alg none',
        token: `${b64({ alg: 'none', typ: USAGE_REPORT_TYPE })}.${b64(second)}.`,
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'unsigned',
        detail: /unsigned \(alg "none"\)/,
      },
      {
        name: 'HMAC keyed with the install public key',
        token: `${hmacInput}.${hmac}`,
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'alg_hmac',
        detail: /uses HMAC \(alg "HS256"\)/,
      },
      {
        name: 'a license passed as a report',
        token: license.token,
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'wrong_type',
        detail: /typ is "tenantry-license\+jwt"/,
      },
      {
        name: 'an event outside the period',
        token: await forge({ ...second, events: [cpu('x2', 3, '2026-11-11T00:00:00Z')] }, { kid }, install),
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'event_outside_period',
        detail: /event 0 \("x2"\) at 2026-11-11T00:00:00Z is outside the period/,
      },
      {
        name: 'totals that disagree with the events',
        token: await forge({ ...second, totals: { cpu_hours: { sum: 1, count: 1 } } }, { kid }, install),
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'totals_mismatch',
        detail: /totals for meter "cpu_hours" say 1 in 1 event\(s\), its events add up to 3/,
      },
      {
        name: 'a duplicate event id',
        token: await forge(
          {
            ...second,
            events: [...nextEvents, cpu('x2', 0, '2026-11-07T00:00:00Z')],
            totals: { cpu_hours: { sum: 3, count: 2 } },
          },
          { kid },
          install,
        ),
        status: 422,
        code: 'usage_report_invalid',
        refusal: 'duplicate_event',
        detail: /event id "x2" appears more than once/,
      },
      {
        name: 'a meter the plans do not declare',
        token: await signReport(
          chain.nextClaims('2026-11-10T00:00:00Z', [
            { id: 'x3', meter: 'gold_bars', value: 1, time: '2026-11-06T00:00:00Z' },
          ]),
          install,
        ),
        status: 400,
        code: 'validation_failed',
        detail: /1 event\(s\) of the report are refused/,
      },
    ];

    const before = await written();
    const details = new Set<string>();
    for (const attack of attacks) {
      const response = await importReport(attack.token, attack.tenant);
      expect(response.status, `${attack.name}: ${JSON.stringify(response.body)}`).toBe(attack.status);
      expect(String(response.headers['content-type'])).toContain('application/problem+json');
      expect(response.body.code, attack.name).toBe(attack.code);
      if (attack.refusal !== undefined) expect(response.body.refusal, attack.name).toBe(attack.refusal);
      expect(response.body.detail, attack.name).toMatch(attack.detail);
      details.add(response.body.detail);
    }
    expect(attacks.length).toBeGreaterThanOrEqual(10);
    expect(details.size).toBe(attacks.length);
    expect(await written()).toEqual(before);

    const unknown = await importReport(
      await signReport(
        chain.nextClaims('2026-11-10T00:00:00Z', [
          { id: 'x3', meter: 'gold_bars', value: 1, time: '2026-11-06T00:00:00Z' },
        ]),
        install,
      ),
    );
    expect(unknown.body.errors).toEqual([{ path: 'report.events.0', message: 'unknown meter "gold_bars"' }]);
    // The genuine report 2 still imports after all of them.
    expect((await importReport(secondToken)).status).toBe(201);
  });

  it("refuses a first report signed by a key other than the one its install checked in with; the install's own pins", async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { license } = await licensed();
    const install = await installKey();
    const checkIn = (installId: string, key: InstallKey) =>
      t.request({
        method: 'POST',
        url: '/v1/licenses/check-in',
        payload: {
          license: license.token,
          install_id: installId,
          version: '4.2.0',
          install_public_jwk: key.publicKey,
        },
      });
    expect((await checkIn('inst-c', install)).status).toBe(200);
    const chain = new InstallChain({
      installId: 'inst-c',
      install,
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    setClock(t, '2026-11-10T00:05:00Z');
    const events = [cpu('c1', 2, '2026-11-02T00:00:00Z')];

    // The attack: a report under the install's name, signed by a key of the attacker's, before the
    // install ever sent one (so no report pinned a key yet).
    const stranger = await installKey();
    const before = await written();
    const forged = await importReport(
      await signReport(
        chain.nextClaims('2026-11-10T00:00:00Z', events, { install_key: stranger.publicKey }),
        stranger,
      ),
    );
    expect(forged.status, JSON.stringify(forged.body)).toBe(422);
    expect(forged.body).toMatchObject({ code: 'usage_report_invalid', refusal: 'foreign_key' });
    expect(forged.body.detail).toBe(
      `the report is signed by install key ${await calculateJwkThumbprint(stranger.publicKey)}, not by the key install "inst-c" checked in with (${await calculateJwkThumbprint(install.publicKey)})`,
    );
    expect(await written()).toEqual(before);

    // The install's own report agrees with its check-in, is imported and pins the key as usual.
    const genuine = await importReport(await chain.next('2026-11-10T00:00:00Z', events));
    expect(genuine.status, JSON.stringify(genuine.body)).toBe(201);
    expect(genuine.body.report.key_thumbprint).toBe(await calculateJwkThumbprint(install.publicKey));
    // An install that never checked in pins its first report's key, as before.
    const unchecked = new InstallChain({
      installId: 'inst-d',
      install: stranger,
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    expect(
      (
        await importReport(
          await unchecked.next('2026-11-10T00:00:00Z', [cpu('d1', 1, '2026-11-03T00:00:00Z')]),
        )
      ).status,
    ).toBe(201);
  });

  it("attack: a check-in with another key than the one the install's reports pinned is a 409 install_key_mismatch", async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { license } = await licensed();
    const install = await installKey();
    const chain = new InstallChain({
      installId: 'inst-e',
      install,
      license: license.token,
      from: '2026-11-01T00:00:00Z',
    });
    setClock(t, '2026-11-10T00:05:00Z');
    // The install exports before it ever checks in: its first report pins its key.
    const first = await importReport(
      await chain.next('2026-11-10T00:00:00Z', [cpu('e1', 1, '2026-11-02T00:00:00Z')]),
    );
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const checkIn = (key: InstallKey | undefined) =>
      t.request({
        method: 'POST',
        url: '/v1/licenses/check-in',
        headers: { authorization: '' },
        payload: {
          license: license.token,
          install_id: 'inst-e',
          version: '4.2.0',
          ...(key === undefined ? {} : { install_public_jwk: key.publicKey }),
        },
      });
    const checkIns = async () =>
      (
        await query<{ n: number }>(
          t,
          `select count(*)::int as n from tenantry.license_check_ins where install_id = 'inst-e'`,
        )
      )[0]?.n;

    // The attack: a copy of the license checks in under the install's name with its own key (or none).
    const stranger = await installKey();
    const before = await written();
    for (const key of [stranger, undefined]) {
      const response = await checkIn(key);
      expect(response.status, JSON.stringify(response.body)).toBe(409);
      expect(response.body.code).toBe('install_key_mismatch');
      expect(response.body.detail).toBe(
        `install "inst-e" pinned another key with its usage reports (x ${install.publicKey.x}); this check-in ${key === undefined ? 'carries no key' : `carries x ${stranger.publicKey.x}`}`,
      );
    }
    expect(await written()).toEqual(before);
    expect(await checkIns()).toBe(0);

    // The install itself checks in with its key, and its next report still imports.
    expect((await checkIn(install)).status).toBe(200);
    expect(await checkIns()).toBe(1);
    setClock(t, '2026-11-20T00:05:00Z');
    const second = await importReport(
      await chain.next('2026-11-20T00:00:00Z', [cpu('e2', 1, '2026-11-12T00:00:00Z')]),
    );
    expect(second.status, JSON.stringify(second.body)).toBe(201);
  });

  it('refuses a body without a report, and an unknown tenant, before writing anything', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const { license } = await licensed();
    const install = await installKey();
    const report = await signReport(
      reportClaims({
        install,
        installId: 'inst-u',
        license: license.token,
        seq: 1,
        previous: null,
        from: '2026-11-01T00:00:00Z',
        to: '2026-11-02T00:00:00Z',
        events: [cpu('u1', 1, '2026-11-01T12:00:00Z')],
      }),
      install,
    );
    setClock(t, '2026-11-02T00:00:00Z');
    const before = await written();
    const empty = await t.request({ method: 'POST', url: '/v1/usage-reports', payload: { report: '' } });
    expect(empty.status).toBe(400);
    expect(empty.body.code).toBe('validation_failed');
    const extra = await t.request({
      method: 'POST',
      url: '/v1/usage-reports',
      payload: { report, tenantt: 'x' },
    });
    expect(extra.status).toBe(400);
    expect(extra.body.code).toBe('validation_failed');
    const nobody = await importReport(report, 'no-such-tenant');
    expect(nobody.status).toBe(404);
    expect(nobody.body.code).toBe('tenant_not_found');
    expect(await written()).toEqual(before);
  });

  it('lists 404 for an unknown tenant and 400 for a cursor it never gave', async () => {
    const missing = await t.request({ method: 'GET', url: '/v1/tenants/no-such-tenant/usage-reports' });
    expect(missing.status).toBe(404);
    setClock(t, '2026-11-01T00:00:00Z');
    const { tenant } = await licensed();
    const bad = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/usage-reports?cursor=nope` });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([
      { path: 'query.cursor', message: 'is not a cursor from a previous page' },
    ]);
  });
});
