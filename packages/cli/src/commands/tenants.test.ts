import { describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

const METHOD = {
  tenant_id: 'ten_1',
  reference: 'pm_1Visa',
  brand: 'visa',
  last4: '4242',
  created_at: '2026-11-01T09:00:00.000Z',
  updated_at: '2026-11-01T09:00:00.000Z',
};

describe('tenants dunning', () => {
  it('GETs the tenant’s dunning and prints each case with its next retry and suspension date', async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        tenant_id: 'ten_1',
        tenant_state: 'past_due',
        in_dunning: true,
        cases: [
          {
            invoice_id: 'inv_1',
            invoice_number: 'INV-000042',
            round: 1,
            opened_at: '2026-12-01T09:00:00.000Z',
            retry_at: ['2026-12-02T09:00:00.000Z', '2026-12-04T09:00:00.000Z'],
            retries_raised: 1,
            next_retry_at: '2026-12-04T09:00:00.000Z',
            suspend_at: '2026-12-08T09:00:00.000Z',
            suspended_at: null,
            resolved_at: null,
          },
        ],
      });
    const result = await run(['tenants', 'dunning', 'acme']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([['GET', '/v1/tenants/acme/dunning']]);
    expect(result.stdout).toContain('in dunning: yes');
    expect(result.stdout).toMatch(
      /INV-000042\s+1\s+2026-12-01 09:00 UTC\s+1\/2\s+2026-12-04 09:00 UTC\s+2026-12-08 09:00 UTC\s+open/,
    );
  });
});

describe('tenants payment-method', () => {
  it('shows the method on file, sets one with --set, removes it with --remove', async () => {
    api.handler = (_req, res) => json(res, 200, METHOD);
    const shown = await run(['tenants', 'payment-method', 'acme']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('card:          visa •••• 4242');
    const set = await run([
      'tenants',
      'payment-method',
      'acme',
      '--set',
      'pm_1Visa',
      '--brand',
      'visa',
      '--last4',
      '4242',
    ]);
    expect(set.code).toBe(0);
    const removed = await run(['tenants', 'payment-method', 'acme', '--remove']);
    expect(removed.stdout).toBe('removed pm_1Visa from tenant ten_1\n');
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([
      ['GET', '/v1/tenants/acme/payment-method'],
      ['POST', '/v1/tenants/acme/payment-method'],
      ['DELETE', '/v1/tenants/acme/payment-method'],
    ]);
    expect(JSON.parse(api.seen[1]?.body ?? '')).toEqual({
      reference: 'pm_1Visa',
      brand: 'visa',
      last4: '4242',
    });
  });

  it('refuses --set with --remove, and --brand without --set, without calling the control plane', async () => {
    const both = await run(['tenants', 'payment-method', 'acme', '--set', 'pm_1', '--remove']);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('error: --set and --remove cannot be given together\n');
    const brand = await run(['tenants', 'payment-method', 'acme', '--brand', 'visa']);
    expect(brand.code).toBe(2);
    expect(brand.stderr).toBe('error: --brand and --last4 go with --set\n');
    expect(api.seen).toEqual([]);
  });

  it('prints the control plane’s refusal on one line and exits 2', async () => {
    api.handler = (_req, res) =>
      problem(res, 404, 'payment_method_not_found', 'tenant acme has no payment method on file');
    const result = await run(['tenants', 'payment-method', 'acme']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: tenant acme has no payment method on file [payment_method_not_found]\n',
    );
  });
});

const TENANT = {
  id: 'ten_1',
  slug: 'acme',
  name: 'Acme',
  state: 'provisioning_failed',
  state_reason: 'schema "ten_1" already exists and belongs to "someone"; refusing to take it over',
  placement: 'schema',
  data_plane: 'dpl_eu',
  data_plane_health: 'degraded',
  region: null,
  plan: { id: 'pln_1', key: 'pro', version: 1 },
  seats: 1,
  overrides: {},
  trial_ends_at: null,
  billing_anchor: '2026-11-01T09:00:00.000Z',
  current_period: { start: '2026-11-01T09:00:00.000Z', end: '2026-12-01T09:00:00.000Z' },
  scheduled_change: null,
  resources: { placement: 'schema', data_plane: 'dpl_eu', schema: 'ten_1', role: 'tenantry_ten_1' },
  provisioning: {
    state: 'failed',
    step: 'schema',
    error: 'schema "ten_1" already exists and belongs to "someone"; refusing to take it over',
  },
  metadata: {},
  created_at: '2026-11-01T09:00:00.000Z',
  updated_at: '2026-11-01T09:00:00.000Z',
  deleted_at: null,
  test_clock: null,
};

describe('tenants create and show: data planes and provisioning', () => {
  it('sends --data-plane as data_plane', async () => {
    api.handler = (_req, res) => json(res, 201, TENANT);
    const result = await run([
      'tenants',
      'create',
      '--slug',
      'acme',
      '--name',
      'Acme',
      '--plan',
      'pro',
      '--placement',
      'schema',
      '--data-plane',
      'dpl_eu',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? '{}')).toEqual({
      slug: 'acme',
      name: 'Acme',
      plan: 'pro',
      placement: 'schema',
      data_plane: 'dpl_eu',
    });
  });

  it('shows the data plane and the provisioning step it stopped at, with the error', async () => {
    api.handler = (_req, res) => json(res, 200, TENANT);
    const result = await run(['tenants', 'show', 'acme']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toContain('data plane:   dpl_eu (degraded)');
    expect(lines).toContain(
      'provisioning: failed at schema: schema "ten_1" already exists and belongs to "someone"; refusing to take it over',
    );
    expect(lines).toContain('resources:    schema=ten_1, role=tenantry_ten_1');
  });
});
