import { type DomainError, type FieldError, fail } from '../errors.ts';
import { minorUnitDigits, normaliseCurrency } from '../money/index.ts';
import type { PlanDefinition, PriceDefinition } from '../plans/index.ts';
import { ok, type Result } from '../result.ts';
import { type Decimal, formatDecimal, parseDecimal } from './decimal.ts';
import { formatMinorUnits } from './format-minor-units.ts';
import { rateUsage } from './rate-usage.ts';
import type {
  InvoiceLine,
  IsoPeriod,
  LinePlan,
  RatedInvoice,
  RatingInput,
  SubscriptionSegment,
} from './rating.ts';
import { roundHalfEven } from './round-half-even.ts';

/**
 * Rates one billing period: the invoice lines, subtotal and total that the subscription's
 * segments and the period's usage come to. Pure and deterministic: the same input always gives
 * the same output, whatever the clock says. The rules (also in docs/billing.md):
 *
 * - Every price of a plan is per billing interval, and the period is one interval of the plans.
 * - Flat and per-seat prices are charged per segment, each segment its own line:
 *   `amount × seats × segment seconds / period seconds`, where seconds are counted between
 *   instants truncated to the whole second. A segment covering the whole period is not prorated.
 * - Usage prices are rated once, under the plan of the last segment (in force at the period's
 *   end), on the period's whole usage; see `rateUsage` for included units, packages and tiers.
 * - A minimum commitment is prorated like a flat price over the segments whose plan has one; when
 *   the other lines add up to less, a `minimum` line tops the invoice up to it.
 * - Money is exact (decimal strings to bigints, never floating point) and each line is rounded to
 *   the currency's minor unit once, half to even; the subtotal adds the rounded lines.
 *
 * Fails with `currency_mismatch` when the segments' plans are priced in different currencies, and
 * with `validation_failed`, naming every bad field, for a period that is empty, segments that do
 * not tile it, a seat count that is negative or not whole, plans of different intervals, or a
 * usage quantity that is not a non-negative decimal.
 */
export function ratePeriod(input: RatingInput): Result<RatedInvoice, DomainError> {
  const problems = inputProblems(input);
  if (problems.length > 0) {
    return fail('validation_failed', `cannot rate the period: ${problems.map((p) => p.path).join(', ')}`, {
      errors: problems,
    });
  }
  const currencies = [...new Set(input.segments.map((s) => normaliseCurrency(s.plan.currency)))];
  const [currency] = currencies;
  if (currencies.length !== 1 || currency === undefined || currency === null) {
    const listed = [...new Set(input.segments.map((s) => `${s.plan.key} (${s.plan.currency})`))];
    return fail(
      'currency_mismatch',
      `an invoice has one currency, but the period's plans are priced in several: ${listed.join(', ')}`,
      { details: { currencies: [...new Set(input.segments.map((s) => s.plan.currency))] } },
    );
  }
  const digits = minorUnitDigits(currency) ?? 0;
  const periodSeconds = secondsBetween(input.period.start, input.period.end);
  const period = isoPeriod(input.period.start, input.period.end);
  const money = (minor: bigint) => formatMinorUnits(minor, currency);
  /** An exact amount `value × numerator / denominator` in major units, rounded to minor units. */
  const toMinor = (value: Decimal, numerator = 1n, denominator = 1n) =>
    roundHalfEven(
      value.coefficient * 10n ** BigInt(digits) * numerator,
      10n ** BigInt(value.scale) * denominator,
    );

  const lines: { line: InvoiceLine; minor: bigint }[] = [];
  for (const segment of input.segments) {
    const seconds = secondsBetween(segment.from, segment.to);
    const whole = seconds === periodSeconds;
    const proration = whole ? null : { seconds, period_seconds: periodSeconds };
    for (const price of segment.plan.prices) {
      if (price.type !== 'flat' && price.type !== 'per_seat') continue;
      const unitAmount = decimal(price.type === 'flat' ? price.amount : price.unit_amount);
      const quantity = price.type === 'flat' ? 1n : BigInt(segment.seats);
      const minor = toMinor(unitAmount, quantity * BigInt(seconds), BigInt(periodSeconds));
      const label = describe(price, segment.plan);
      lines.push({
        minor,
        line: {
          key: `${price.key}@${segment.from.toISOString()}`,
          kind: price.type,
          price_key: price.key,
          description: whole ? label : `${label}, ${when(segment.from)} to ${when(segment.to)}`,
          period: isoPeriod(segment.from, segment.to),
          quantity: quantity.toString(),
          unit_amount: formatDecimal(unitAmount, digits),
          amount: money(minor),
          tiers: null,
          usage: null,
          proration,
          minimum: null,
          plan: linePlan(segment),
        },
      });
    }
  }

  const last = input.segments[input.segments.length - 1];
  if (last === undefined) throw new TypeError('ratePeriod: validated input has segments');
  for (const price of last.plan.prices) {
    if (price.type !== 'usage') continue;
    const usage = decimal(Object.hasOwn(input.usage, price.meter) ? (input.usage[price.meter] ?? '0') : '0');
    const charge = rateUsage(price, usage);
    const minor = toMinor(charge.amount);
    const packageSize = charge.tiers === null && (price.package_size ?? 1) > 1 ? price.package_size : null;
    lines.push({
      minor,
      line: {
        key: price.key,
        kind: 'usage',
        price_key: price.key,
        description: describe(price, last.plan),
        period,
        quantity: formatDecimal(charge.quantity),
        unit_amount: charge.unitAmount === null ? null : formatDecimal(charge.unitAmount, digits),
        amount: money(minor),
        tiers:
          charge.tiers?.map((tier) => ({
            tier: tier.tier,
            up_to: tier.upTo,
            quantity: formatDecimal(tier.quantity),
            unit_amount: formatDecimal(tier.unitAmount, digits),
            flat_amount: formatDecimal(tier.flatAmount, digits),
            amount: formatDecimal(tier.amount, digits),
          })) ?? null,
        usage: {
          meter: price.meter,
          usage: formatDecimal(usage),
          included: price.included,
          billable: formatDecimal(charge.billable),
          package_size: packageSize,
          tiers_mode: charge.tiers === null ? null : price.tiers_mode,
        },
        proration: null,
        minimum: null,
        plan: linePlan(last),
      },
    });
  }

  const charges = lines.reduce((sum, { minor }) => sum + minor, 0n);
  const minimum = minimumLine(input.segments, periodSeconds, digits, charges);
  if (minimum !== null) {
    lines.push({
      minor: minimum.topUp,
      line: {
        key: 'minimum',
        kind: 'minimum',
        price_key: minimum.price.key,
        description: describe(minimum.price, minimum.segment.plan),
        period,
        quantity: '1',
        unit_amount: money(minimum.topUp),
        amount: money(minimum.topUp),
        tiers: null,
        usage: null,
        proration:
          minimum.seconds === periodSeconds
            ? null
            : { seconds: minimum.seconds, period_seconds: periodSeconds },
        minimum: { commitment: money(minimum.commitment), charges: money(charges) },
        plan: linePlan(minimum.segment),
      },
    });
  }
  const subtotal = money(lines.reduce((sum, { minor }) => sum + minor, 0n));
  return ok({ currency, period, lines: lines.map(({ line }) => line), subtotal, total: subtotal });
}

/**
 * The minimum-commitment top-up, or `null` when no segment's plan has a minimum or the charges
 * already reach it. The commitment adds every segment's minimums prorated by its seconds, exactly,
 * and is rounded once.
 */
function minimumLine(
  segments: readonly SubscriptionSegment[],
  periodSeconds: number,
  digits: number,
  charges: bigint,
): {
  price: PriceDefinition;
  segment: SubscriptionSegment;
  commitment: bigint;
  topUp: bigint;
  seconds: number;
} | null {
  // Amounts have at most 12 fraction digits (plan files refuse more), so one common scale is exact.
  const scale = 12n;
  let numerator = 0n;
  let covered = 0;
  let found: { price: PriceDefinition; segment: SubscriptionSegment } | null = null;
  for (const segment of segments) {
    const seconds = secondsBetween(segment.from, segment.to);
    const minimums = segment.plan.prices.filter((price) => price.type === 'minimum');
    if (minimums.length === 0) continue;
    covered += seconds;
    for (const price of minimums) {
      const amount = decimal(price.amount);
      numerator += amount.coefficient * 10n ** (scale - BigInt(amount.scale)) * BigInt(seconds);
      found = { price, segment };
    }
  }
  if (found === null) return null;
  const commitment = roundHalfEven(numerator * 10n ** BigInt(digits), 10n ** scale * BigInt(periodSeconds));
  if (commitment <= charges) return null;
  return { ...found, commitment, topUp: commitment - charges, seconds: covered };
}

/** Every problem of the input, as field errors; empty when it can be rated. */
function inputProblems(input: RatingInput): FieldError[] {
  const problems: FieldError[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  const { start, end } = input.period;
  if (!validDate(start) || !validDate(end) || secondsBetween(start, end) <= 0) {
    problem('period', 'the period must run from a valid start to a valid end at least one second later');
    return problems;
  }
  if (input.segments.length === 0) {
    problem('segments', 'at least one segment is needed: the subscription over the period');
  }
  let expectedFrom = start;
  for (const [index, segment] of input.segments.entries()) {
    const path = `segments.${index}`;
    if (!validDate(segment.from) || segment.from.getTime() !== expectedFrom.getTime()) {
      problem(
        `${path}.from`,
        `must be ${expectedFrom.toISOString()}, where the ${index === 0 ? 'period starts' : 'previous segment ends'}: segments tile the period without gap or overlap`,
      );
    }
    if (!validDate(segment.to) || !(segment.to.getTime() > segment.from.getTime())) {
      problem(`${path}.to`, 'must be a valid date after the segment start');
    } else if (index < input.segments.length - 1 && segment.to.getTime() >= end.getTime()) {
      // The last segment's end is checked once, below, against the period's end.
      problem(`${path}.to`, `must be before the period end ${end.toISOString()}: later segments follow`);
    }
    if (!Number.isSafeInteger(segment.seats) || segment.seats < 0) {
      problem(
        `${path}.seats`,
        `${String(segment.seats)} is not a seat count: seats are a whole number of at least 0`,
      );
    }
    if (!Number.isSafeInteger(segment.planVersion) || segment.planVersion < 1) {
      problem(`${path}.planVersion`, 'must be a whole number of at least 1');
    }
    const first = input.segments[0]?.plan;
    if (first !== undefined && segment.plan.interval !== first.interval) {
      problem(
        `${path}.plan.interval`,
        `plan ${segment.plan.key} bills every ${segment.plan.interval} but plan ${first.key} every ${first.interval}: a period is one interval, so a change of interval starts a new period`,
      );
    }
    if (normaliseCurrency(segment.plan.currency) === null) {
      problem(
        `${path}.plan.currency`,
        `${JSON.stringify(segment.plan.currency)} is not a currency Tenantry accepts`,
      );
    }
    for (const [i, price] of segment.plan.prices.entries()) {
      for (const [field, text] of priceAmounts(price)) {
        if (parseDecimal(text) === null) {
          problem(`${path}.plan.prices.${i}.${field}`, `${JSON.stringify(text)} is not a decimal amount`);
        }
      }
    }
    if (validDate(segment.to)) expectedFrom = segment.to;
  }
  const lastTo = input.segments[input.segments.length - 1]?.to;
  const lastToPath = `segments.${input.segments.length - 1}.to`;
  if (
    lastTo !== undefined &&
    validDate(lastTo) &&
    lastTo.getTime() !== end.getTime() &&
    !problems.some((p) => p.path === lastToPath)
  ) {
    problem(lastToPath, `must be ${end.toISOString()}, where the period ends: segments tile the period`);
  }
  for (const [meter, quantity] of Object.entries(input.usage)) {
    if (typeof quantity !== 'string' || parseDecimal(quantity) === null) {
      problem(
        `usage.${meter}`,
        `${JSON.stringify(quantity)} is not a usage quantity: write a non-negative decimal such as "1250" or "2.75"`,
      );
    }
  }
  return problems;
}

/** The decimal amounts a price carries, by field path, to be checked before rating. */
function priceAmounts(price: PriceDefinition): [string, string][] {
  switch (price.type) {
    case 'flat':
    case 'minimum':
      return [['amount', price.amount]];
    case 'per_seat':
      return [['unit_amount', price.unit_amount]];
    case 'usage':
      return [
        ...(price.unit_amount === null ? [] : [['unit_amount', price.unit_amount] as [string, string]]),
        ...(price.tiers ?? []).flatMap((tier, i): [string, string][] => [
          [`tiers.${i}.unit_amount`, tier.unit_amount],
          [`tiers.${i}.flat_amount`, tier.flat_amount],
        ]),
      ];
  }
}

/** An invoice line's label: the price's name, or one derived from what it charges. */
function describe(price: PriceDefinition, plan: PlanDefinition): string {
  if (price.name !== null) return price.name;
  switch (price.type) {
    case 'flat':
      return `${plan.name} plan`;
    case 'per_seat':
      return `${plan.name} seats`;
    case 'usage':
      return plan.meters[price.meter]?.name ?? price.meter;
    case 'minimum':
      return 'Minimum commitment';
  }
}

/** A validated amount of a plan price. */
function decimal(text: string): Decimal {
  const value = parseDecimal(text);
  if (value === null) throw new TypeError(`ratePeriod: ${JSON.stringify(text)} is not a decimal`);
  return value;
}

function linePlan(segment: SubscriptionSegment): LinePlan {
  return { key: segment.plan.key, version: segment.planVersion };
}

function isoPeriod(start: Date, end: Date): IsoPeriod {
  return { start: start.toISOString(), end: end.toISOString() };
}

function validDate(date: Date): boolean {
  return date instanceof Date && !Number.isNaN(date.getTime());
}

/** Whole seconds from `from` to `to`, each truncated to its second, so that tiling segments add up. */
function secondsBetween(from: Date, to: Date): number {
  return Math.floor(to.getTime() / 1000) - Math.floor(from.getTime() / 1000);
}

/** `2026-11-16` at midnight UTC, otherwise `2026-11-16 14:30:05 UTC`: a segment bound for people. */
function when(date: Date): string {
  const iso = date.toISOString();
  const time = iso.slice(11, 19);
  return time === '00:00:00' ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${time} UTC`;
}
