import { describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

const INVOICE = {
  id: 'inv_1',
  object: 'invoice',
  number: 'INV-000042',
  status: 'open',
  reason: 'period',
  tenant: { id: 'ten_1', slug: 'acme', name: 'Acme' },
  adjusts: null,
  credit_note: null,
  currency: 'usd',
  period: { start: '2026-11-01T00:00:00.000Z', end: '2026-12-01T00:00:00.000Z' },
  lines: [
    {
      description: 'Seats',
      quantity: '7',
      unit_amount: '49.00',
      amount: '343.00',
      proration: null,
      tiers: null,
    },
    {
      description: 'API calls',
      quantity: '1224570',
      unit_amount: null,
      amount: '1212.28',
      proration: null,
      tiers: [
        {
          tier: 1,
          up_to: 100000,
          quantity: '100000',
          unit_amount: '0.002',
          flat_amount: '0.00',
          amount: '200.00',
        },
        {
          tier: 3,
          up_to: null,
          quantity: '224570',
          unit_amount: '0.0005',
          flat_amount: '0.00',
          amount: '112.285',
        },
      ],
    },
  ],
  subtotal: '1555.28',
  total: '1555.28',
  amount_due: '1555.28',
  issued_at: '2026-12-01T00:00:00.000Z',
  paid_at: null,
};

describe('invoices preview', () => {
  it('GETs the upcoming invoice of the tenant for the period and prints its lines and tiers', async () => {
    api.handler = (_req, res) => json(res, 200, { ...INVOICE, id: null, number: null, status: 'draft' });
    const result = await run(['invoices', 'preview', '--tenant', 'acme', '--period', '2026-11']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([
      ['GET', '/v1/tenants/acme/invoices/upcoming?period=2026-11'],
    ]);
    expect(api.seen[0]?.headers.authorization).toBe('Bearer tk_secret');
    expect(result.stdout).toContain('invoice: (draft)');
    expect(result.stdout).toMatch(/Seats\s+7\s+49\.00\s+343\.00/);
    expect(result.stdout).toMatch(/ {2}tier 3 \(no upper bound\)\s+224570\s+0\.0005\s+112\.285/);
    expect(result.stdout).toContain('total:      1555.28 USD');
  });

  it('refuses a period that is not YYYY-MM without calling the control plane', async () => {
    const result = await run(['invoices', 'preview', '--tenant', 'acme', '--period', '2026-13']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Expected a month, YYYY-MM.');
    expect(api.seen).toEqual([]);
  });
});

describe('invoices run', () => {
  it('POSTs the run with an idempotency key and prints the summary', async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        tenants: 3,
        invoices: 2,
        late_usage_invoices: 1,
        credit_notes: 0,
        numbers: { first: 'INV-000001', last: 'INV-000003' },
        failed: [],
      });
    const result = await run(['invoices', 'run', '--period', '2026-11', '--tenant', 'acme']);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.method).toBe('POST');
    expect(api.seen[0]?.url).toBe('/v1/invoices/run');
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ period: '2026-11', tenant: 'acme' });
    expect(api.seen[0]?.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.stdout).toBe(
      '2 invoices finalized (INV-000001 to INV-000003), 1 for late usage, 0 credit notes; 3 tenants looked at\n',
    );
  });

  it('prints a problem on one line and exits 2', async () => {
    api.handler = (_req, res) =>
      problem(res, 409, 'period_not_ended', 'a billing period of 2026-11 has not ended yet');
    const result = await run(['invoices', 'run', '--period', '2026-11']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('error: a billing period of 2026-11 has not ended yet [period_not_ended]\n');
  });
});

describe('invoices settlement', () => {
  for (const [command, option, field] of [
    ['pay', '--reference', 'reference'],
    ['payment-failed', '--reason', 'reason'],
    ['void', '--reason', 'reason'],
    ['mark-uncollectible', '--reason', 'reason'],
  ] as const) {
    it(`${command} POSTs to the invoice's route with the ${field}`, async () => {
      api.handler = (_req, res) => json(res, 200, { ...INVOICE, status: 'paid', amount_due: '0.00' });
      const result = await run(['invoices', command, 'INV-000042', option, 'text']);
      expect(result.code).toBe(0);
      expect(api.seen.map((s) => [s.method, s.url])).toEqual([
        ['POST', `/v1/invoices/INV-000042/${command}`],
      ]);
      expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ [field]: 'text' });
      expect(result.stdout).toBe('INV-000042 is paid, 0.00 due\n');
    });
  }

  it('prints the API JSON with --json', async () => {
    api.handler = (_req, res) => json(res, 200, INVOICE);
    const result = await run(['invoices', 'show', 'inv_1', '--json']);
    expect(JSON.parse(result.stdout)).toEqual(INVOICE);
  });
});

describe('invoices list', () => {
  it('lists a page with filters and says how to continue', async () => {
    api.handler = (_req, res) => json(res, 200, { data: [INVOICE], next_cursor: 'abc' });
    const result = await run(['invoices', 'list', '--tenant', 'acme', '--status', 'open', '--limit', '1']);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/invoices?tenant=acme&status=open&limit=1');
    expect(result.stdout).toContain('INV-000042');
    expect(result.stdout).toContain('more: --cursor abc');
  });
});

describe('invoices showback', () => {
  const SHOWBACK = {
    tenant: { slug: 'acme' },
    period: { start: '2026-11-01T00:00:00.000Z', end: '2026-12-01T00:00:00.000Z' },
    currency: 'usd',
    source: 'invoice',
    total: '66.00',
    totals: { subscription: '60.00', usage: '6.00', storage: '0.00' },
    lines: [
      {
        category: 'subscription',
        description: 'Users',
        meter: null,
        quantity: '2',
        unit_amount: '30.00',
        amount: '60.00',
      },
      {
        category: 'usage',
        description: 'CPU, "fast"',
        meter: 'cpu',
        quantity: '60',
        unit_amount: '0.10',
        amount: '6.00',
      },
    ],
    consumers: [
      {
        subject: '=ana',
        amount: '6.00',
        share: '100.00',
        usage: [
          { meter: 'cpu', description: 'CPU, "fast"', quantity: '60', amount: '6.00', share: '100.00' },
        ],
      },
    ],
    other_consumers: null,
  };

  it('prints the breakdown and the consumers', async () => {
    api.handler = (_req, res) => json(res, 200, SHOWBACK);
    const result = await run([
      'invoices',
      'showback',
      '--tenant',
      'acme',
      '--period',
      '2026-11',
      '--top',
      '5',
    ]);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/tenants/acme/showback?period=2026-11&top=5');
    expect(result.stdout).toMatch(/subscription\s+Users\s+2\s+30\.00\s+60\.00/);
    expect(result.stdout).toMatch(/=ana\s+6\.00\s+100\.00%/);
  });

  it('prints the CSV the control plane writes with --csv', async () => {
    const csv =
      'category,description,meter,subject,quantity,unit_amount,amount,share\r\nsubscription,Users,,,2,30.00,60.00,\r\n';
    api.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
      res.end(csv);
    };
    const result = await run(['invoices', 'showback', '--tenant', 'acme', '--csv']);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.headers.accept).toContain('text/csv');
    expect(result.stdout).toBe(csv);
  });
});
