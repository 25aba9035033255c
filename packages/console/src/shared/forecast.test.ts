import { describe, expect, it } from 'vitest';
import { burnForecast } from './forecast.ts';

const periodStart = new Date('2026-12-01T00:00:00Z');
const periodEnd = new Date('2027-01-01T00:00:00Z');
const now = new Date('2026-12-11T00:00:00Z'); // ten days in

describe('burnForecast', () => {
  it('extends the period’s average rate to the limit', () => {
    // 400 in ten days is 40 a day: the 600 left take fifteen more days.
    expect(burnForecast({ used: 400, limit: 1000, periodStart, periodEnd, now })).toEqual({
      kind: 'reaches',
      at: new Date('2026-12-26T00:00:00Z'),
    });
  });

  it('says not within this period when the rate reaches the limit only after the period ends', () => {
    // 200 in ten days: 1000 on day 50, after the period's 31 days.
    expect(burnForecast({ used: 200, limit: 1000, periodStart, periodEnd, now })).toEqual({
      kind: 'not_within_period',
    });
    // Exactly at the period's end is not within it (the period is half-open).
    expect(burnForecast({ used: 1000 * (10 / 31), limit: 1000, periodStart, periodEnd, now }).kind).toBe(
      'not_within_period',
    );
  });

  it('says reached once the usage is at or over the limit', () => {
    expect(burnForecast({ used: 1000, limit: 1000, periodStart, periodEnd, now })).toEqual({
      kind: 'reached',
    });
    expect(burnForecast({ used: 1200, limit: 1000, periodStart, periodEnd, now })).toEqual({
      kind: 'reached',
    });
  });

  it('forecasts nothing without usage, before the period begins, or without a limit', () => {
    expect(burnForecast({ used: 0, limit: 1000, periodStart, periodEnd, now }).kind).toBe(
      'not_within_period',
    );
    expect(burnForecast({ used: 5, limit: 1000, periodStart, periodEnd, now: periodStart }).kind).toBe(
      'not_within_period',
    );
    expect(burnForecast({ used: 5, limit: null, periodStart, periodEnd, now }).kind).toBe('unlimited');
  });

  it('reaches a zero limit at once', () => {
    expect(burnForecast({ used: 0, limit: 0, periodStart, periodEnd, now }).kind).toBe('reached');
  });
});
