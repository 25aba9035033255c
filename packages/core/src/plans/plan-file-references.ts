import { CURRENCIES, canonicalDecimal, normaliseCurrency, toMinorUnits } from '../money/index.ts';
import { describeValue, type ValidationIssue } from '../validation-issue.ts';
import { CONFIG_TYPES, type ConfigType, configTypePhrase, matchesConfigType } from './config-type.ts';
import { priceKey } from './price-key.ts';

type Path = (string | number)[];

/**
 * The plan-file rules that relate one part of the file to another: declared features, meters
 * and config keys, config values of the declared type, a currency for every plan, amounts in
 * whole minor units of that currency, `per_seat` not on seats, no meter named `seats`, unique
 * price keys, a declared feature for a meter tied to one, `per_subject` only on gauges. Reads unvalidated input defensively and skips whatever the shape check already
 * rejects, so that it can run alongside that check and report the rest.
 */
export function planFileReferenceIssues(file: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (!isRecord(file)) return issues;
  const add = (path: Path, message: string) => issues.push({ path, message });

  // `null` = the section itself is malformed (already reported), so references into it are not checked.
  const features = declaredKeys(file.features);
  const meters = declaredKeys(file.meters);
  const configTypes = declaredConfigTypes(file.config);
  if (meters?.has('seats')) {
    add(
      ['meters', 'seats'],
      'the meter name "seats" is reserved for the built-in seat limit: choose another name',
    );
  }
  const fileCurrency = currencyField(file.currency);
  const gauges = new Set<string>();
  if (isRecord(file.meters)) {
    for (const [meterKey, meter] of Object.entries(file.meters)) {
      if (!isRecord(meter)) continue;
      if (meter.aggregation === 'latest' || meter.aggregation === 'time_weighted') gauges.add(meterKey);
      if (typeof meter.feature === 'string' && features !== null && !features.has(meter.feature)) {
        add(['meters', meterKey, 'feature'], `feature "${meter.feature}" is not declared under features`);
      }
    }
  }

  if (!isRecord(file.plans)) return issues;
  for (const [planKey, plan] of Object.entries(file.plans)) {
    if (!isRecord(plan)) continue;
    const at = (...rest: Path): Path => ['plans', planKey, ...rest];

    const planCurrency = currencyField(plan.currency);
    const currency = planCurrency === undefined ? fileCurrency : planCurrency;
    if (currency === undefined) {
      add(
        at('currency'),
        `plan "${planKey}" has no currency: set currency at the top of the file or on the plan`,
      );
    }

    if (Array.isArray(plan.features) && features !== null) {
      plan.features.forEach((feature: unknown, index) => {
        if (typeof feature === 'string' && !features.has(feature)) {
          add(at('features', index), `feature "${feature}" is not declared under features`);
        }
      });
    }

    if (isRecord(plan.limits)) {
      for (const [limitKey, limit] of Object.entries(plan.limits)) {
        if (limitKey === 'seats') {
          if (isRecord(limit) && limit.per_seat === true) {
            add(
              at('limits', 'seats', 'per_seat'),
              'per_seat is not allowed on seats: the seat limit already counts seats',
            );
          }
        } else if (meters !== null && !meters.has(limitKey)) {
          add(
            at('limits', limitKey),
            `limit "${limitKey}" is neither seats nor a meter declared under meters`,
          );
        }
        if (isRecord(limit) && limit.per_subject !== undefined && meters !== null && !gauges.has(limitKey)) {
          add(
            at('limits', limitKey, 'per_subject'),
            `per_subject applies only to gauges (meters aggregated by latest or time_weighted), which "${limitKey}" is not: a cap per subject limits what each subject holds at once`,
          );
        }
      }
    }

    if (isRecord(plan.config) && configTypes !== null) {
      for (const [configKey, value] of Object.entries(plan.config)) {
        if (!configTypes.has(configKey)) {
          add(at('config', configKey), `config "${configKey}" is not declared under config`);
          continue;
        }
        const type = configTypes.get(configKey);
        if (type !== undefined && isScalar(value) && !matchesConfigType(value, type)) {
          add(
            at('config', configKey),
            `config "${configKey}" must be ${configTypePhrase(type)}, as declared under config, not ${describeValue(value)}`,
          );
        }
      }
    }

    if (Array.isArray(plan.prices)) {
      const seen = new Set<string>();
      plan.prices.forEach((price: unknown, index) => {
        if (!isRecord(price)) return;
        const key = priceKey(price);
        if (key !== null) {
          if (seen.has(key)) {
            add(
              typeof price.key === 'string' ? at('prices', index, 'key') : at('prices', index),
              `price key "${key}" is used by more than one price of this plan: give each price a distinct key`,
            );
          }
          seen.add(key);
        }
        if (
          price.type === 'usage' &&
          typeof price.meter === 'string' &&
          meters !== null &&
          !meters.has(price.meter)
        ) {
          add(at('prices', index, 'meter'), `meter "${price.meter}" is not declared under meters`);
        }
        if (typeof currency === 'string') {
          const wholeAmount = (value: unknown, path: Path) => {
            const amount = canonicalDecimal(value);
            if (amount !== null && toMinorUnits(amount, currency) === null) {
              const digits = CURRENCIES[currency];
              add(
                path,
                `${path.at(-1)} ${JSON.stringify(amount)} must be a whole number of minor units of ${currency}, that is at most ${digits} decimal places`,
              );
            }
          };
          if (price.type === 'flat' || price.type === 'minimum')
            wholeAmount(price.amount, at('prices', index, 'amount'));
          if (price.type === 'usage' && Array.isArray(price.tiers)) {
            price.tiers.forEach((tier: unknown, tierIndex) => {
              if (isRecord(tier) && tier.flat_amount !== undefined) {
                wholeAmount(tier.flat_amount, at('prices', index, 'tiers', tierIndex, 'flat_amount'));
              }
            });
          }
        }
      });
    }
  }
  return issues;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): boolean {
  return typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean';
}

/** The keys of a declaration section; an absent section declares nothing. */
function declaredKeys(section: unknown): Set<string> | null {
  if (section === undefined) return new Set();
  return isRecord(section) ? new Set(Object.keys(section)) : null;
}

/** Declared config keys with their type; `undefined` type when the declaration's type is malformed. */
function declaredConfigTypes(section: unknown): Map<string, ConfigType | undefined> | null {
  if (section === undefined) return new Map();
  if (!isRecord(section)) return null;
  const types = new Map<string, ConfigType | undefined>();
  for (const [key, declaration] of Object.entries(section)) {
    const type = isRecord(declaration) ? declaration.type : undefined;
    types.set(
      key,
      CONFIG_TYPES.find((candidate) => candidate === type),
    );
  }
  return types;
}

/**
 * A currency field: the currency, `undefined` when absent, or `false` when present but invalid
 * (already reported by the shape check; a plan relying on it must not also be told it has none).
 */
function currencyField(value: unknown): keyof typeof CURRENCIES | false | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? (normaliseCurrency(value) ?? false) : false;
}
