import { describe, expect, it } from 'vitest';
import { parsePlanFile } from './parse-plan-file.ts';
import { PlanFileSchema } from './plan-file-schema.ts';

/** A small valid file; tests change one part of it at a time. */
function validFile(): Record<string, unknown> {
  return {
    currency: 'usd',
    meters: {
      cpu_hours: { aggregation: 'sum', unit: 'hour' },
      sessions: { aggregation: 'time_weighted' },
      users: { aggregation: 'unique_count' },
    },
    features: { sso: { name: 'Single sign-on' }, audit: {} },
    config: { retention_days: { type: 'integer', default: 7 } },
    plans: {
      pro: {
        name: 'Pro',
        features: ['sso'],
        limits: { seats: { value: 10 }, sessions: { value: 5, per_seat: true } },
        config: { retention_days: 30 },
        prices: [
          { type: 'flat', amount: '49.00' },
          { type: 'usage', meter: 'cpu_hours', unit_amount: '0.04', included: 100 },
        ],
      },
    },
  };
}

type Json = Record<string, unknown>;

function plan(file: Json): Json {
  return (file.plans as Json).pro as Json;
}

function issuesOf(input: unknown): { path: string; message: string }[] {
  const result = parsePlanFile(input);
  if (result.ok) return [];
  return result.error.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('parsePlanFile', () => {
  it('accepts a valid file and fills in defaults', () => {
    const result = parsePlanFile(validFile());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const pro = result.value.plans.pro;
    expect(pro?.interval).toBe('month');
    expect(pro?.trial_days).toBe(0);
    expect(pro?.requires_payment_method).toBe(false);
    expect(pro?.limits.seats).toEqual({
      value: 10,
      per_seat: false,
      enforcement: 'hard',
      thresholds: [80, 100],
    });
    expect(pro?.prices[0]).toEqual({ type: 'flat', amount: '49' });
  });

  it('accepts `feature:` with no body (YAML null) as an empty declaration', () => {
    const file = validFile();
    file.features = { sso: null };
    expect(parsePlanFile(file).ok).toBe(true);
  });

  it('normalises currencies to lowercase', () => {
    const file = validFile();
    file.currency = 'USD';
    const result = parsePlanFile(file);
    expect(result.ok && result.value.currency).toBe('usd');
  });

  it('refuses a document that is not a mapping, and a file without plans', () => {
    expect(issuesOf(null)).toEqual([
      { path: '', message: 'the input must be a mapping of keys to values, not null' },
    ]);
    expect(issuesOf({ currency: 'usd', plans: {} })).toEqual([
      { path: 'plans', message: 'the file must declare at least one plan under plans' },
    ]);
    expect(issuesOf({ currency: 'usd' })).toEqual([{ path: 'plans', message: 'plans is required' }]);
  });

  it('reports unknown fields (typos) with the path of the field', () => {
    const file = validFile();
    plan(file).trail_days = 14;
    expect(issuesOf(file)).toEqual([
      { path: 'plans.pro.trail_days', message: 'unknown field "trail_days" in plans.pro' },
    ]);
  });

  it('reports keys that break the key rule', () => {
    const file = validFile();
    (file.meters as Json)['CPU-hours'] = { aggregation: 'sum' };
    const [issue] = issuesOf(file);
    expect(issue?.path).toBe('meters.CPU-hours');
    expect(issue?.message).toMatch(/^"CPU-hours" is not a valid key in meters: use lowercase letters/);
  });

  it('words type errors for people', () => {
    const file = validFile();
    plan(file).trial_days = 'two weeks';
    plan(file).interval = 'week';
    expect(issuesOf(file)).toEqual([
      { path: 'plans.pro.interval', message: 'interval must be one of "month" or "year", not "week"' },
      { path: 'plans.pro.trial_days', message: 'trial_days must be a number, not "two weeks"' },
    ]);
  });

  it('bounds a trial at two years, as creating a tenant does', () => {
    const file = validFile();
    plan(file).trial_days = 731;
    expect(issuesOf(file)).toEqual([
      { path: 'plans.pro.trial_days', message: expect.stringContaining('730') },
    ]);
    plan(file).trial_days = 730;
    expect(issuesOf(file)).toEqual([]);
  });

  it('requires a plan name', () => {
    const file = validFile();
    delete plan(file).name;
    expect(issuesOf(file)).toEqual([{ path: 'plans.pro.name', message: 'name is required' }]);
  });

  it('reports an undeclared feature', () => {
    const file = validFile();
    plan(file).features = ['sso', 'ssoo'];
    expect(issuesOf(file)).toEqual([
      { path: 'plans.pro.features.1', message: 'feature "ssoo" is not declared under features' },
    ]);
  });

  it('reports a feature listed twice', () => {
    const file = validFile();
    plan(file).features = ['sso', 'sso'];
    expect(issuesOf(file)).toEqual([
      { path: 'plans.pro.features.1', message: 'feature "sso" is listed more than once' },
    ]);
  });

  it('reports a limit on an undeclared meter, and per_seat on seats', () => {
    const file = validFile();
    plan(file).limits = { seats: { value: 3, per_seat: true }, meetings: { value: 100 } };
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.limits.seats.per_seat',
        message: 'per_seat is not allowed on seats: the seat limit already counts seats',
      },
      {
        path: 'plans.pro.limits.meetings',
        message: 'limit "meetings" is neither seats nor a meter declared under meters',
      },
    ]);
  });

  it('checks limit values and thresholds', () => {
    const file = validFile();
    plan(file).limits = {
      seats: { value: 'lots' },
      sessions: { value: 2.5 },
      cpu_hours: { value: 'unlimited', thresholds: [100, 100, 2000], enforcement: 'strict' },
      users: {},
    };
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.limits.seats.value',
        message: 'value must be a whole number of at least 0 or "unlimited"',
      },
      {
        path: 'plans.pro.limits.sessions.value',
        message: 'value must be a whole number of at least 0 or "unlimited"',
      },
      {
        path: 'plans.pro.limits.cpu_hours.enforcement',
        message: 'enforcement must be one of "hard" or "soft", not "strict"',
      },
      {
        path: 'plans.pro.limits.cpu_hours.thresholds.2',
        message: 'thresholds[2] must be at most 1000, not 2000',
      },
      {
        path: 'plans.pro.limits.cpu_hours.thresholds.1',
        message: 'thresholds must be strictly ascending, but 100 follows 100',
      },
      { path: 'plans.pro.limits.users.value', message: 'value is required' },
    ]);
  });

  it('reports undeclared config keys and values of the wrong type', () => {
    const file = validFile();
    plan(file).config = { retention_days: 30.5, colour: 'blue' };
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.config.retention_days',
        message: 'config "retention_days" must be an integer, as declared under config, not 30.5',
      },
      { path: 'plans.pro.config.colour', message: 'config "colour" is not declared under config' },
    ]);
  });

  it('checks config declarations: a default is required and must match the type', () => {
    const file = validFile();
    file.config = {
      a: { type: 'boolean', default: 'yes' },
      b: { type: 'string' },
      c: { type: 'decimal', default: 1 },
      d: { type: 'number', default: 0.5 },
    };
    plan(file).config = { d: 2 };
    expect(issuesOf(file)).toEqual([
      {
        path: 'config.a.default',
        message: 'default must be true or false because type is boolean, not "yes"',
      },
      { path: 'config.b.default', message: 'default is required' },
      {
        path: 'config.c.type',
        message: 'type must be one of "integer", "number", "string" or "boolean", not "decimal"',
      },
    ]);
  });

  it('reports a usage price on an undeclared meter', () => {
    const file = validFile();
    plan(file).prices = [{ type: 'usage', meter: 'gpu_hours', unit_amount: '1' }];
    expect(issuesOf(file)).toEqual([
      { path: 'plans.pro.prices.0.meter', message: 'meter "gpu_hours" is not declared under meters' },
    ]);
  });

  it('requires exactly one of unit_amount and tiers, and package_size only with unit_amount', () => {
    const file = validFile();
    const tiers = [{ up_to: 'inf', unit_amount: '1' }];
    plan(file).prices = [
      { type: 'usage', meter: 'cpu_hours', key: 'a' },
      { type: 'usage', meter: 'cpu_hours', key: 'b', unit_amount: '1', tiers, tiers_mode: 'volume' },
      { type: 'usage', meter: 'cpu_hours', key: 'c', tiers, tiers_mode: 'volume', package_size: 10 },
      { type: 'usage', meter: 'cpu_hours', key: 'd', tiers },
      { type: 'usage', meter: 'cpu_hours', key: 'e', unit_amount: '1', tiers_mode: 'graduated' },
    ];
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.prices.0',
        message: 'a usage price needs either unit_amount, or tiers with tiers_mode',
      },
      { path: 'plans.pro.prices.1', message: 'a usage price sets either unit_amount or tiers, not both' },
      {
        path: 'plans.pro.prices.2.package_size',
        message: 'package_size applies only to unit_amount, not to tiers',
      },
      {
        path: 'plans.pro.prices.3.tiers_mode',
        message: 'tiers_mode is required with tiers: write graduated or volume',
      },
      {
        path: 'plans.pro.prices.4.tiers_mode',
        message: 'tiers_mode applies only to tiers, and this price has none',
      },
    ]);
  });

  it('requires ascending tiers ending with inf', () => {
    const file = validFile();
    plan(file).prices = [
      {
        type: 'usage',
        meter: 'cpu_hours',
        tiers_mode: 'graduated',
        tiers: [
          { up_to: 100, unit_amount: '1' },
          { up_to: 'inf', unit_amount: '0.5' },
          { up_to: 50, unit_amount: '0.5' },
          { up_to: 10 },
        ],
      },
    ];
    expect(issuesOf(file)).toEqual([
      { path: 'plans.pro.prices.0.tiers.3', message: 'a tier needs unit_amount, flat_amount or both' },
      { path: 'plans.pro.prices.0.tiers.1.up_to', message: 'only the last tier may have up_to: inf' },
      {
        path: 'plans.pro.prices.0.tiers.2.up_to',
        message: "up_to must be greater than the previous tier's (100): tiers are listed in ascending order",
      },
      {
        path: 'plans.pro.prices.0.tiers.3.up_to',
        message: 'the last tier must have up_to: inf, so that every quantity has a price',
      },
      {
        path: 'plans.pro.prices.0.tiers.3.up_to',
        message: "up_to must be greater than the previous tier's (50): tiers are listed in ascending order",
      },
    ]);
  });

  it('requires flat and minimum amounts and tier flat amounts in whole minor units of the plan currency', () => {
    const file = validFile();
    plan(file).prices = [
      { type: 'flat', amount: '49.001' },
      { type: 'per_seat', unit_amount: '0.125' },
      {
        type: 'usage',
        meter: 'cpu_hours',
        tiers_mode: 'volume',
        tiers: [{ up_to: 'inf', unit_amount: '0.0001', flat_amount: '0.5' }],
      },
      { type: 'minimum', amount: '0.001' },
    ];
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.prices.0.amount',
        message:
          'amount "49.001" must be a whole number of minor units of usd, that is at most 2 decimal places',
      },
      {
        path: 'plans.pro.prices.3.amount',
        message:
          'amount "0.001" must be a whole number of minor units of usd, that is at most 2 decimal places',
      },
    ]);
    plan(file).currency = 'jpy';
    expect(issuesOf(file).map((issue) => issue.path)).toEqual([
      'plans.pro.prices.0.amount',
      'plans.pro.prices.2.tiers.0.flat_amount',
      'plans.pro.prices.3.amount',
    ]);
  });

  it('reports bad amounts and unknown price types', () => {
    const file = validFile();
    plan(file).prices = [{ type: 'flat', amount: '-5' }, { type: 'discount' }, { amount: '1' }];
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.prices.0.amount',
        message:
          '"-5" is not a valid amount: write a non-negative decimal in major units such as "49.00", without exponent and with at most 12 decimal places',
      },
      {
        path: 'plans.pro.prices.1.type',
        message: 'type must be one of "flat", "per_seat", "usage" or "minimum", not "discount"',
      },
      {
        path: 'plans.pro.prices.2.type',
        message: 'type is required: write one of "flat", "per_seat", "usage" or "minimum"',
      },
    ]);
  });

  it('reports an unknown currency, and a plan with no currency anywhere', () => {
    const file = validFile();
    file.currency = 'dollars';
    expect(issuesOf(file)).toEqual([
      {
        path: 'currency',
        message:
          'unknown currency "dollars": use a lowercase ISO 4217 code Tenantry accepts, such as usd or eur',
      },
    ]);
    delete file.currency;
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.currency',
        message: 'plan "pro" has no currency: set currency at the top of the file or on the plan',
      },
    ]);
    plan(file).currency = 'EUR';
    expect(issuesOf(file)).toEqual([]);
  });

  it('reports unique_by on a meter that is not unique_count, and a bad unique_by', () => {
    const file = validFile();
    file.meters = {
      cpu_hours: { aggregation: 'sum', unique_by: 'subject' },
      sessions: { aggregation: 'time_weighted' },
      users: { aggregation: 'unique_count', unique_by: 'user' },
      projects: { aggregation: 'unique_count', unique_by: 'properties.project_id' },
    };
    expect(issuesOf(file)).toEqual([
      {
        path: 'meters.cpu_hours.unique_by',
        message: 'unique_by applies only to meters with aggregation unique_count, and this meter uses sum',
      },
      {
        path: 'meters.users.unique_by',
        message: 'unique_by "user" is not valid: write "subject" or "properties.<name>"',
      },
    ]);
  });

  it('takes a meter category from the closed list, and reports any other with its path', () => {
    const file = validFile();
    file.meters = {
      cpu_hours: { aggregation: 'sum', category: 'compute' },
      sessions: { aggregation: 'time_weighted', category: 'memory' },
      users: { aggregation: 'unique_count' },
    };
    expect(issuesOf(file)).toEqual([
      {
        path: 'meters.sessions.category',
        message: expect.stringContaining('compute'),
      },
    ]);
  });

  it('reserves the meter name seats', () => {
    const file = validFile();
    (file.meters as Json).seats = { aggregation: 'max' };
    expect(issuesOf(file)).toEqual([
      {
        path: 'meters.seats',
        message: 'the meter name "seats" is reserved for the built-in seat limit: choose another name',
      },
    ]);
  });

  it('reports duplicate price keys, derived or written', () => {
    const file = validFile();
    plan(file).prices = [
      { type: 'flat', amount: '10' },
      { type: 'flat', amount: '20' },
      { type: 'usage', meter: 'cpu_hours', unit_amount: '1' },
      { type: 'usage', meter: 'cpu_hours', unit_amount: '2', key: 'usage_cpu_hours' },
      { type: 'flat', amount: '30', key: 'support' },
    ];
    expect(issuesOf(file)).toEqual([
      {
        path: 'plans.pro.prices.1',
        message:
          'price key "flat" is used by more than one price of this plan: give each price a distinct key',
      },
      {
        path: 'plans.pro.prices.3.key',
        message:
          'price key "usage_cpu_hours" is used by more than one price of this plan: give each price a distinct key',
      },
    ]);
  });

  it('reports every problem at once, shape and cross-reference alike', () => {
    const file = validFile();
    plan(file).trial_days = -1;
    plan(file).features = ['ssoo'];
    plan(file).config = { colour: 'blue' };
    (file.plans as Json).team = { currency: 'eur', limits: { meetings: { value: 1 } } };
    expect(issuesOf(file).map((issue) => issue.path)).toEqual([
      'plans.pro.trial_days',
      'plans.team.name',
      'plans.pro.features.0',
      'plans.pro.config.colour',
      'plans.team.limits.meetings',
    ]);
  });

  it('exposes the same rules as a zod schema', () => {
    const file = validFile();
    expect(PlanFileSchema.safeParse(file).success).toBe(true);
    plan(file).features = ['ssoo'];
    const result = PlanFileSchema.safeParse(file);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([['plans', 'pro', 'features', 0]]);
  });
});
