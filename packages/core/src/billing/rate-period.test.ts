import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DomainError } from '../errors.ts';
import { toMinorUnits } from '../money/index.ts';
import type {
  PlanDefinition,
  PriceDefinition,
  TierDefinition,
  UsagePriceDefinition,
} from '../plans/index.ts';
import { ratePeriod } from './rate-period.ts';
import type { InvoiceLine, RatedInvoice, RatingInput, SubscriptionSegment } from './rating.ts';

const NOV = { start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-12-01T00:00:00Z') };
const MONTH_SECONDS = 30 * 86_400;

function plan(prices: PriceDefinition[], extra: Partial<PlanDefinition> = {}): PlanDefinition {
  return {
    key: 'test',
    name: 'Test',
    description: null,
    currency: 'usd',
    interval: 'month',
    trial_days: 0,
    requires_payment_method: false,
    features: {},
    limits: {},
    config: {},
    prices,
    meters: { calls: { name: 'Calls', unit: null, aggregation: 'count', unique_by: null } },
    ...extra,
  };
}

const flat = (amount: string, key = 'flat'): PriceDefinition => ({ type: 'flat', key, name: null, amount });
const perSeat = (unit_amount: string, key = 'per_seat'): PriceDefinition => ({
  type: 'per_seat',
  key,
  name: null,
  unit_amount,
});
const minimum = (amount: string): PriceDefinition => ({
  type: 'minimum',
  key: 'minimum',
  name: null,
  amount,
});
function usage(fields: Partial<UsagePriceDefinition>): UsagePriceDefinition {
  return {
    type: 'usage',
    key: 'usage_calls',
    name: null,
    meter: 'calls',
    included: 0,
    unit_amount: null,
    package_size: null,
    tiers_mode: null,
    tiers: null,
    ...fields,
  };
}
const tier = (up_to: number | null, unit_amount: string, flat_amount = '0'): TierDefinition => ({
  up_to,
  unit_amount,
  flat_amount,
});

function segment(
  p: PlanDefinition,
  seats = 1,
  from = NOV.start,
  to = NOV.end,
  planVersion = 1,
): SubscriptionSegment {
  return { from, to, plan: p, planVersion, seats };
}

function rated(input: RatingInput): RatedInvoice {
  const result = ratePeriod(input);
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
}

function failure(input: RatingInput): DomainError {
  const result = ratePeriod(input);
  if (result.ok) throw new Error('expected a failure');
  return result.error;
}

/** The one usage line of rating `price` on `quantity` units over November. */
function usageLine(price: UsagePriceDefinition, quantity: string, currency = 'usd'): InvoiceLine {
  const line = rated({
    period: NOV,
    segments: [segment(plan([price], { currency }))],
    usage: { calls: quantity },
  }).lines[0];
  if (line === undefined) throw new Error('no line');
  return line;
}

describe('ratePeriod: flat and per-seat prices', () => {
  it('charges a whole period unprorated, one line per price', () => {
    const invoice = rated({
      period: NOV,
      segments: [segment(plan([flat('19'), perSeat('49')]), 7)],
      usage: {},
    });
    expect(
      invoice.lines.map((l) => [l.key, l.kind, l.quantity, l.unit_amount, l.amount, l.proration]),
    ).toEqual([
      ['flat@2026-11-01T00:00:00.000Z', 'flat', '1', '19.00', '19.00', null],
      ['per_seat@2026-11-01T00:00:00.000Z', 'per_seat', '7', '49.00', '343.00', null],
    ]);
    expect(invoice.lines[0]?.description).toBe('Test plan');
    expect(invoice.lines[1]?.description).toBe('Test seats');
    expect(invoice.lines[1]?.period).toEqual({
      start: '2026-11-01T00:00:00.000Z',
      end: '2026-12-01T00:00:00.000Z',
    });
    expect(invoice.lines[1]?.plan).toEqual({ key: 'test', version: 1 });
    expect([invoice.currency, invoice.subtotal, invoice.total]).toEqual(['usd', '362.00', '362.00']);
  });

  it('keeps a per-seat line of zero seats, and rates a plan without prices to an empty invoice', () => {
    expect(
      rated({ period: NOV, segments: [segment(plan([perSeat('49')]), 0)], usage: {} }).lines[0]?.amount,
    ).toBe('0.00');
    const free = rated({ period: NOV, segments: [segment(plan([]))], usage: { calls: '5' } });
    expect([free.lines, free.total]).toEqual([[], '0.00']);
  });

  it('prorates each segment by the second and says which part of the period it covers', () => {
    const mid = new Date('2026-11-16T12:00:00Z');
    const invoice = rated({
      period: NOV,
      segments: [
        segment(plan([perSeat('10')]), 3, NOV.start, mid),
        segment(plan([perSeat('10')]), 4, mid, NOV.end),
      ],
      usage: {},
    });
    const [first, second] = invoice.lines;
    expect(first?.proration).toEqual({ seconds: 15.5 * 86_400, period_seconds: MONTH_SECONDS });
    expect(second?.proration).toEqual({ seconds: 14.5 * 86_400, period_seconds: MONTH_SECONDS });
    // 3 × 10 × 15.5/30 = 15.50; 4 × 10 × 14.5/30 = 19.333… → 19.33
    expect([first?.amount, second?.amount, invoice.total]).toEqual(['15.50', '19.33', '34.83']);
    expect(first?.description).toBe('Test seats, 2026-11-01 to 2026-11-16 12:00:00 UTC');
    expect(second?.period).toEqual({ start: '2026-11-16T12:00:00.000Z', end: '2026-12-01T00:00:00.000Z' });
    expect(second?.key).toBe('per_seat@2026-11-16T12:00:00.000Z');
  });

  it('counts seconds between instants truncated to the second, so segments add up to the period', () => {
    const cut = new Date('2026-11-16T00:00:00.999Z');
    const invoice = rated({
      period: NOV,
      segments: [
        segment(plan([flat('30')]), 1, NOV.start, cut),
        segment(plan([flat('30')]), 1, cut, NOV.end),
      ],
      usage: {},
    });
    const seconds = invoice.lines.map((l) => l.proration?.seconds ?? 0);
    expect(seconds).toEqual([15 * 86_400, 15 * 86_400]);
    expect(invoice.total).toBe('30.00');
  });

  it('rounds a prorated line half to even', () => {
    // 5 × 10.00 × 810000/2592000 = 15.625 → 15.62; 7 × 10.00 × 0.3125 = 21.875 → 21.88
    const cut = new Date('2026-11-10T09:00:00Z');
    const rest = (seats: number) => segment(plan([perSeat('10')]), seats, cut, NOV.end);
    for (const [seats, amount] of [
      [5, '15.62'],
      [7, '21.88'],
    ] as const) {
      const invoice = rated({
        period: NOV,
        segments: [segment(plan([perSeat('10')]), seats, NOV.start, cut), rest(1)],
        usage: {},
      });
      expect(invoice.lines[0]?.amount).toBe(amount);
    }
  });

  it('rounds to whole yen in a zero-decimal currency', () => {
    const yen = plan([perSeat('1000')], { currency: 'jpy' });
    const third = new Date(NOV.start.getTime() + 10 * 86_400_000);
    const invoice = rated({
      period: NOV,
      segments: [segment(yen, 1, NOV.start, third), segment(yen, 1, third, NOV.end)],
      usage: {},
    });
    // 1000 × 10/30 = 333.33… → 333; 1000 × 20/30 = 666.66… → 667
    expect(invoice.lines.map((l) => l.amount)).toEqual(['333', '667']);
    expect([invoice.currency, invoice.total]).toEqual(['jpy', '1000']);
  });
});

describe('ratePeriod: usage prices', () => {
  it('charges per unit above the included units, and keeps a line of zero', () => {
    const price = usage({ unit_amount: '0.04', included: 100 });
    const line = usageLine(price, '412.5');
    expect([line.quantity, line.unit_amount, line.amount]).toEqual(['312.5', '0.04', '12.50']);
    expect(line.usage).toEqual({
      meter: 'calls',
      usage: '412.5',
      included: 100,
      billable: '312.5',
      package_size: null,
      tiers_mode: null,
    });
    expect([line.key, line.kind, line.description, line.tiers, line.proration]).toEqual([
      'usage_calls',
      'usage',
      'Calls',
      null,
      null,
    ]);
    const within = usageLine(price, '99');
    expect([within.quantity, within.amount, within.usage?.billable]).toEqual(['0', '0.00', '0']);
  });

  it('rounds a per-unit line half to even, once', () => {
    const price = usage({ unit_amount: '0.005' });
    expect(['1', '3', '5', '7', '1001'].map((q) => usageLine(price, q).amount)).toEqual([
      '0.00', // 0.005
      '0.02', // 0.015
      '0.02', // 0.025
      '0.04', // 0.035
      '5.00', // 5.005
    ]);
    // 12 fraction digits of unit price, never rounded before the line: 0.000000000001 × 10^10 = 0.01
    expect(usageLine(usage({ unit_amount: '0.000000000001' }), '10000000000').amount).toBe('0.01');
  });

  it('charges every started package whole', () => {
    const price = usage({ unit_amount: '5', package_size: 1000, included: 500 });
    const cases = [
      ['500', '0', '0.00'],
      ['501', '1', '5.00'],
      ['1500', '1', '5.00'],
      ['1500.5', '2', '10.00'],
      ['2501', '3', '15.00'],
    ];
    for (const [used, packages, amount] of cases) {
      const line = usageLine(price, used ?? '');
      expect([line.quantity, line.amount, line.unit_amount], used).toEqual([packages, amount, '5.00']);
      expect(line.usage?.package_size).toBe(1000);
    }
  });

  const graduated = usage({
    tiers_mode: 'graduated',
    tiers: [tier(1000, '0.10', '5'), tier(10000, '0.08', '20'), tier(null, '0.05')],
  });

  it('charges graduated tiers unit by unit, with the flat amount of every tier reached', () => {
    const line = usageLine(graduated, '12000');
    expect(line.tiers).toEqual([
      { tier: 1, up_to: 1000, quantity: '1000', unit_amount: '0.10', flat_amount: '5.00', amount: '105.00' },
      {
        tier: 2,
        up_to: 10000,
        quantity: '9000',
        unit_amount: '0.08',
        flat_amount: '20.00',
        amount: '740.00',
      },
      { tier: 3, up_to: null, quantity: '2000', unit_amount: '0.05', flat_amount: '0.00', amount: '100.00' },
    ]);
    expect([line.quantity, line.unit_amount, line.amount, line.usage?.tiers_mode]).toEqual([
      '12000',
      null,
      '945.00',
      'graduated',
    ]);
    expect(usageLine(graduated, '1000').tiers?.map((t) => t.tier)).toEqual([1]);
    expect(usageLine(graduated, '1000.5').tiers?.map((t) => [t.tier, t.quantity])).toEqual([
      [1, '1000'],
      [2, '0.5'],
    ]);
  });

  it('charges nothing, not even a flat amount, when no unit is billable', () => {
    const line = usageLine({ ...graduated, included: 10 }, '10');
    expect([line.tiers, line.amount]).toEqual([[], '0.00']);
    expect(usageLine(graduated, '0').amount).toBe('0.00');
  });

  it('applies tiers to the billable units, after the included ones', () => {
    const line = usageLine({ ...graduated, included: 10000 }, '11000');
    expect(line.tiers?.map((t) => [t.tier, t.quantity])).toEqual([[1, '1000']]);
    expect(line.amount).toBe('105.00');
  });

  it('charges every unit of a volume price at the tier the total falls in, plus its flat amount', () => {
    const volume = usage({
      tiers_mode: 'volume',
      tiers: [tier(50000, '0.005'), tier(null, '0.004', '25')],
    });
    const atBound = usageLine(volume, '50000');
    expect([atBound.amount, atBound.tiers?.map((t) => t.tier), atBound.usage?.tiers_mode]).toEqual([
      '250.00',
      [1],
      'volume',
    ]);
    const above = usageLine(volume, '50000.5');
    expect(above.tiers).toEqual([
      {
        tier: 2,
        up_to: null,
        quantity: '50000.5',
        unit_amount: '0.004',
        flat_amount: '25.00',
        amount: '225.002',
      },
    ]);
    expect(above.amount).toBe('225.00');
  });

  it('rates usage under the plan of the last segment, for the whole period', () => {
    const mid = new Date('2026-11-16T00:00:00Z');
    const cheap = plan([usage({ unit_amount: '0.01' })], { key: 'cheap' });
    const dear = plan([usage({ unit_amount: '0.02' })], { key: 'dear' });
    const invoice = rated({
      period: NOV,
      segments: [segment(cheap, 1, NOV.start, mid, 3), segment(dear, 1, mid, NOV.end, 7)],
      usage: { calls: '1000' },
    });
    expect(invoice.lines).toHaveLength(1);
    expect([invoice.lines[0]?.amount, invoice.lines[0]?.plan, invoice.lines[0]?.period.start]).toEqual([
      '20.00',
      { key: 'dear', version: 7 },
      '2026-11-01T00:00:00.000Z',
    ]);
  });

  it('counts a priced meter without usage as zero and ignores meters no price rates', () => {
    const invoice = rated({
      period: NOV,
      segments: [segment(plan([usage({ unit_amount: '1' })]))],
      usage: { other: '1000' },
    });
    expect(invoice.lines.map((l) => [l.key, l.amount])).toEqual([['usage_calls', '0.00']]);
  });
});

describe('ratePeriod: minimum commitment', () => {
  it('tops the charges up to the minimum', () => {
    const invoice = rated({
      period: NOV,
      segments: [segment(plan([perSeat('10'), usage({ unit_amount: '0.5' }), minimum('100')]), 3)],
      usage: { calls: '7' },
    });
    const top = invoice.lines.at(-1);
    expect([top?.key, top?.kind, top?.quantity, top?.unit_amount, top?.amount]).toEqual([
      'minimum',
      'minimum',
      '1',
      '66.50',
      '66.50',
    ]);
    expect(top?.minimum).toEqual({ commitment: '100.00', charges: '33.50' });
    expect([top?.proration, top?.description, invoice.total]).toEqual([null, 'Minimum commitment', '100.00']);
  });

  it('adds no line when the charges reach the minimum', () => {
    const invoice = rated({
      period: NOV,
      segments: [segment(plan([perSeat('10'), minimum('100')]), 10)],
      usage: {},
    });
    expect(invoice.lines.map((l) => l.kind)).toEqual(['per_seat']);
    expect(invoice.total).toBe('100.00');
  });

  it('prorates the commitment over the segments whose plan has one', () => {
    const cut = new Date('2026-11-21T00:00:00Z'); // 20 days of 30 without a minimum, 10 with
    const withMinimum = plan([minimum('90')], { key: 'committed' });
    const invoice = rated({
      period: NOV,
      segments: [segment(plan([]), 1, NOV.start, cut), segment(withMinimum, 1, cut, NOV.end, 4)],
      usage: {},
    });
    expect(invoice.lines).toHaveLength(1);
    const top = invoice.lines[0];
    expect([top?.amount, top?.proration, top?.plan]).toEqual([
      '30.00',
      { seconds: 10 * 86_400, period_seconds: MONTH_SECONDS },
      { key: 'committed', version: 4 },
    ]);
  });
});

describe('ratePeriod: bad input', () => {
  const ok = plan([perSeat('10')]);

  it('refuses plans priced in different currencies', () => {
    const mid = new Date('2026-11-16T00:00:00Z');
    const error = failure({
      period: NOV,
      segments: [
        segment(ok, 1, NOV.start, mid),
        segment(plan([], { key: 'euro', currency: 'eur' }), 1, mid, NOV.end),
      ],
      usage: {},
    });
    expect(error.code).toBe('currency_mismatch');
    expect(error.detail).toContain('test (usd), euro (eur)');
    expect(error.details).toEqual({ currencies: ['usd', 'eur'] });
  });

  it.each([
    [-1, 'segments.0.seats'],
    [1.5, 'segments.0.seats'],
    [Number.NaN, 'segments.0.seats'],
  ])('refuses the seat count %d', (seats, path) => {
    const error = failure({ period: NOV, segments: [segment(ok, seats)], usage: {} });
    expect(error.code).toBe('validation_failed');
    expect(error.errors?.map((e) => e.path)).toEqual([path]);
    expect(error.errors?.[0]?.message).toContain('whole number');
  });

  it('refuses segments that leave a gap, overlap or miss the ends of the period', () => {
    const a = new Date('2026-11-10T00:00:00Z');
    const b = new Date('2026-11-12T00:00:00Z');
    const paths = (segments: SubscriptionSegment[]) =>
      failure({ period: NOV, segments, usage: {} }).errors?.map((e) => e.path);
    expect(paths([segment(ok, 1, NOV.start, a), segment(ok, 1, b, NOV.end)])).toEqual(['segments.1.from']);
    expect(paths([segment(ok, 1, NOV.start, b), segment(ok, 1, a, NOV.end)])).toEqual(['segments.1.from']);
    expect(paths([segment(ok, 1, a, NOV.end)])).toEqual(['segments.0.from']);
    expect(paths([segment(ok, 1, NOV.start, a)])).toEqual(['segments.0.to']);
    expect(paths([segment(ok, 1, NOV.start, new Date('2026-12-02T00:00:00Z'))])).toEqual(['segments.0.to']);
    expect(paths([segment(ok, 1, NOV.start, NOV.start), segment(ok, 1, NOV.start, NOV.end)])).toEqual([
      'segments.0.to',
    ]);
    expect(paths([])).toEqual(['segments']);
  });

  it('refuses an empty period, plans of different intervals and bad usage, naming each', () => {
    expect(
      failure({ period: { start: NOV.end, end: NOV.start }, segments: [segment(ok)], usage: {} }).errors,
    ).toEqual([{ path: 'period', message: expect.stringContaining('at least one second later') }]);
    const mid = new Date('2026-11-16T00:00:00Z');
    const error = failure({
      period: NOV,
      segments: [segment(ok, 1, NOV.start, mid), segment(plan([], { interval: 'year' }), -2, mid, NOV.end)],
      usage: { calls: '-5', storage: '1e3', fine: '2.5' },
    });
    expect(error.errors?.map((e) => e.path)).toEqual([
      'segments.1.seats',
      'segments.1.plan.interval',
      'usage.calls',
      'usage.storage',
    ]);
    expect(error.detail).toContain('segments.1.seats');
  });

  it('refuses a plan amount that is not a decimal rather than guessing', () => {
    const error = failure({ period: NOV, segments: [segment(plan([perSeat('4,90')]))], usage: {} });
    expect(error.errors?.map((e) => e.path)).toEqual(['segments.0.plan.prices.0.unit_amount']);
  });
});

describe('ratePeriod: determinism and exactness', () => {
  const full = plan([
    flat('19.99'),
    perSeat('12.345'),
    usage({ unit_amount: '0.0004', included: 1000 }),
    usage({
      key: 'storage',
      meter: 'calls',
      tiers_mode: 'graduated',
      tiers: [tier(1000, '0.10', '1'), tier(null, '0.07')],
    }),
    minimum('5000'),
  ]);
  const input: RatingInput = {
    period: NOV,
    segments: [
      segment(full, 3, NOV.start, new Date('2026-11-07T13:14:15Z')),
      segment(full, 11, new Date('2026-11-07T13:14:15Z'), NOV.end),
    ],
    usage: { calls: '123456.789' },
  };

  it('gives the same invoice twice, and the invoice survives a JSON round trip unchanged', () => {
    const first = rated(input);
    expect(rated(input)).toEqual(first);
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
    expect(new Set(first.lines.map((l) => l.key)).size).toBe(first.lines.length);
  });

  const minor = (amount: string) => toMinorUnits(amount, 'usd') ?? Number.NaN;

  it('adds the rounded lines into the total (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MONTH_SECONDS - 1 }),
        fc.nat({ max: 1000 }),
        fc.nat({ max: 1000 }),
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        (cutSeconds, seatsA, seatsB, units) => {
          const cut = new Date(NOV.start.getTime() + cutSeconds * 1000);
          const invoice = rated({
            period: NOV,
            segments: [segment(full, seatsA, NOV.start, cut), segment(full, seatsB, cut, NOV.end)],
            usage: { calls: `${units / 1000n}.${(units % 1000n).toString().padStart(3, '0')}` },
          });
          const sum = invoice.lines.reduce((total, line) => total + BigInt(minor(line.amount)), 0n);
          expect(BigInt(minor(invoice.total))).toBe(sum);
          expect(BigInt(minor(invoice.total)) >= 500000n).toBe(true);
        },
      ),
    );
  });

  it('sums a period split into segments of one plan and seat count to the unsplit amount, within a minor unit per line (property)', () => {
    const recurring = plan([flat('19.99'), perSeat('12.345678901234')]);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: MONTH_SECONDS - 1 }), { minLength: 1, maxLength: 6 }),
        fc.nat({ max: 10_000 }),
        (cuts, seats) => {
          const bounds = [0, ...cuts.sort((a, b) => a - b), MONTH_SECONDS].map(
            (s) => new Date(NOV.start.getTime() + s * 1000),
          );
          const segments = bounds
            .slice(1)
            .map((to, i) => segment(recurring, seats, bounds[i] ?? NOV.start, to));
          const split = rated({ period: NOV, segments, usage: {} });
          const whole = rated({ period: NOV, segments: [segment(recurring, seats)], usage: {} });
          for (const kind of ['flat', 'per_seat'] as const) {
            const parts = split.lines.filter((l) => l.kind === kind);
            const splitSum = parts.reduce((total, l) => total + BigInt(minor(l.amount)), 0n);
            const unsplit = BigInt(minor(whole.lines.find((l) => l.kind === kind)?.amount ?? ''));
            const difference = splitSum > unsplit ? splitSum - unsplit : unsplit - splitSum;
            expect(difference <= BigInt(parts.length)).toBe(true);
            expect(parts.reduce((total, l) => total + (l.proration?.seconds ?? 0), 0)).toBe(MONTH_SECONDS);
          }
        },
      ),
    );
  });
});
