import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { billingPeriod } from './billing-period.ts';

const iso = (period: { start: Date; end: Date }) => [period.start.toISOString(), period.end.toISOString()];
const DAY = 86_400_000;

describe('billingPeriod', () => {
  it('counts monthly periods from the anchor, keeping its time of day', () => {
    const anchor = new Date('2025-03-15T10:30:00.000Z');
    expect(iso(billingPeriod(anchor, 'month', new Date('2025-03-15T10:30:00.000Z')))).toEqual([
      '2025-03-15T10:30:00.000Z',
      '2025-04-15T10:30:00.000Z',
    ]);
    expect(iso(billingPeriod(anchor, 'month', new Date('2025-04-15T10:29:59.999Z')))).toEqual([
      '2025-03-15T10:30:00.000Z',
      '2025-04-15T10:30:00.000Z',
    ]);
    expect(iso(billingPeriod(anchor, 'month', new Date('2026-01-20T00:00:00.000Z')))).toEqual([
      '2026-01-15T10:30:00.000Z',
      '2026-02-15T10:30:00.000Z',
    ]);
  });

  it('clamps a month-end anchor to each month independently, like Stripe', () => {
    const anchor = new Date('2024-01-31T00:00:00.000Z');
    const starts = [];
    let at = anchor;
    for (let i = 0; i < 5; i++) {
      const period = billingPeriod(anchor, 'month', at);
      starts.push(period.start.toISOString().slice(0, 10));
      at = period.end;
    }
    expect(starts).toEqual(['2024-01-31', '2024-02-29', '2024-03-31', '2024-04-30', '2024-05-31']);
    expect(
      billingPeriod(new Date('2025-01-31T00:00:00Z'), 'month', new Date('2025-02-10T00:00:00Z')).end,
    ).toEqual(new Date('2025-02-28T00:00:00Z'));
  });

  it('counts yearly periods, clamping a leap-day anchor', () => {
    const anchor = new Date('2024-02-29T12:00:00.000Z');
    expect(iso(billingPeriod(anchor, 'year', new Date('2025-06-01T00:00:00.000Z')))).toEqual([
      '2025-02-28T12:00:00.000Z',
      '2026-02-28T12:00:00.000Z',
    ]);
    expect(iso(billingPeriod(anchor, 'year', new Date('2028-03-01T00:00:00.000Z')))).toEqual([
      '2028-02-29T12:00:00.000Z',
      '2029-02-28T12:00:00.000Z',
    ]);
  });

  it('gives the first period for an instant before the anchor', () => {
    const anchor = new Date('2025-05-10T00:00:00.000Z');
    expect(iso(billingPeriod(anchor, 'month', new Date('2020-01-01T00:00:00.000Z')))).toEqual([
      '2025-05-10T00:00:00.000Z',
      '2025-06-10T00:00:00.000Z',
    ]);
  });

  it('refuses invalid dates', () => {
    expect(() => billingPeriod(new Date('nope'), 'month', new Date())).toThrow(RangeError);
  });

  const instant = fc.date({
    min: new Date('1970-01-01T00:00:00Z'),
    max: new Date('2200-12-31T23:59:59Z'),
    noInvalidDate: true,
  });
  const interval = fc.constantFrom('month' as const, 'year' as const);

  it('contains the instant, and tiles with no gap or overlap (property)', () => {
    fc.assert(
      fc.property(instant, instant, interval, (a, b, every) => {
        const [anchor, at] = a <= b ? [a, b] : [b, a];
        const period = billingPeriod(anchor, every, at);
        expect(period.start.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(at.getTime()).toBeLessThan(period.end.getTime());
        expect(period.start.getTime()).toBeGreaterThanOrEqual(anchor.getTime());
        // The next period starts where this one ends; the previous one ends where this one starts.
        expect(billingPeriod(anchor, every, period.end).start).toEqual(period.end);
        if (period.start.getTime() > anchor.getTime()) {
          expect(billingPeriod(anchor, every, new Date(period.start.getTime() - 1)).end).toEqual(
            period.start,
          );
        } else {
          expect(period.start).toEqual(anchor);
        }
      }),
    );
  });

  it('lasts a month or a year, and starts on the clamped anchor day at the anchor time (property)', () => {
    fc.assert(
      fc.property(instant, instant, interval, (a, b, every) => {
        const [anchor, at] = a <= b ? [a, b] : [b, a];
        const { start, end } = billingPeriod(anchor, every, at);
        const length = end.getTime() - start.getTime();
        const [min, max] = every === 'month' ? [28 * DAY, 31 * DAY] : [365 * DAY, 366 * DAY];
        expect(length).toBeGreaterThanOrEqual(min);
        expect(length).toBeLessThanOrEqual(max);
        const daysInMonth = new Date(
          Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 0),
        ).getUTCDate();
        expect(start.getUTCDate()).toBe(Math.min(anchor.getUTCDate(), daysInMonth));
        expect(start.getTime() % DAY).toBe(anchor.getTime() % DAY);
        if (every === 'year') expect(start.getUTCMonth()).toBe(anchor.getUTCMonth());
      }),
    );
  });
});
