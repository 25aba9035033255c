import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TierDefinition, UsagePriceDefinition } from '../plans/index.ts';
import { addDecimals, compareDecimals, type Decimal, decimalOf, formatDecimal } from './decimal.ts';
import { rateUsage } from './rate-usage.ts';

function price(fields: Partial<UsagePriceDefinition>): UsagePriceDefinition {
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

/** An amount with up to 12 fraction digits, as plan files allow. */
const amount = fc
  .tuple(fc.bigInt({ min: 0n, max: 10n ** 14n }), fc.nat({ max: 12 }))
  .map(([coefficient, scale]) => formatDecimal({ coefficient, scale }));

/** Ascending tier bounds ending with an unbounded tier. */
const tiers = fc
  .uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 5 })
  .chain((bounds) =>
    fc.tuple(
      ...[...bounds.sort((a, b) => a - b), null].map((up_to) =>
        fc.record({ up_to: fc.constant(up_to), unit_amount: amount, flat_amount: amount }),
      ),
    ),
  ) as fc.Arbitrary<TierDefinition[]>;

/** A usage quantity with up to 3 fraction digits. */
const quantity = fc
  .tuple(fc.bigInt({ min: 0n, max: 5n * 10n ** 9n }), fc.nat({ max: 3 }))
  .map(([coefficient, scale]): Decimal => ({ coefficient, scale }));

describe('rateUsage (properties)', () => {
  it('makes a graduated charge the sum of its tiers, whose quantities add up to the billable units', () => {
    fc.assert(
      fc.property(tiers, quantity, fc.nat({ max: 100_000 }), (list, usage, included) => {
        const charge = rateUsage(price({ tiers_mode: 'graduated', tiers: list, included }), usage);
        const tierUses = charge.tiers ?? [];
        const sum = tierUses.reduce((total, t) => addDecimals(total, t.amount), decimalOf(0));
        expect(compareDecimals(sum, charge.amount)).toBe(0);
        const units = tierUses.reduce((total, t) => addDecimals(total, t.quantity), decimalOf(0));
        expect(compareDecimals(units, charge.billable)).toBe(0);
        expect(tierUses.every((t) => t.quantity.coefficient > 0n)).toBe(true);
      }),
    );
  });

  it('agrees between volume and graduated on a single tier', () => {
    fc.assert(
      fc.property(
        amount,
        amount,
        quantity,
        fc.nat({ max: 100_000 }),
        (unit_amount, flat_amount, usage, included) => {
          const single = [{ up_to: null, unit_amount, flat_amount }];
          const graduated = rateUsage(price({ tiers_mode: 'graduated', tiers: single, included }), usage);
          const volume = rateUsage(price({ tiers_mode: 'volume', tiers: single, included }), usage);
          expect(volume).toEqual(graduated);
        },
      ),
    );
  });

  it('never charges less for more usage under graduated tiers', () => {
    fc.assert(
      fc.property(tiers, quantity, quantity, (list, a, b) => {
        const [low, high] = compareDecimals(a, b) <= 0 ? [a, b] : [b, a];
        const rate = (usage: Decimal) =>
          rateUsage(price({ tiers_mode: 'graduated', tiers: list }), usage).amount;
        expect(compareDecimals(rate(low), rate(high))).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('agrees between a per-unit price and a single graduated tier of the same unit price', () => {
    fc.assert(
      fc.property(amount, quantity, fc.nat({ max: 100_000 }), (unit_amount, usage, included) => {
        const perUnit = rateUsage(price({ unit_amount, package_size: 1, included }), usage);
        const tiered = rateUsage(
          price({
            tiers_mode: 'graduated',
            tiers: [{ up_to: null, unit_amount, flat_amount: '0' }],
            included,
          }),
          usage,
        );
        expect(compareDecimals(perUnit.amount, tiered.amount)).toBe(0);
      }),
    );
  });
});
