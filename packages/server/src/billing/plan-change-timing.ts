import { type DomainError, fail, ok, type PlanDefinition, type Result } from '@tenantry/core';
import { parseDecimalText } from './decimal-text.ts';

/** When a plan change was asked to take effect: `auto` applies upgrades now and downgrades at the period end. */
export type PlanChangeRequest = 'now' | 'period_end' | 'auto';

/**
 * When a plan change takes effect. `auto` applies an upgrade now and a downgrade at the end of the
 * billing period; an upgrade is a move to a plan whose recurring price (flat amounts plus per-seat
 * amounts times the tenant's seats, per billing interval) is at least the current one's. A move to
 * another currency or billing interval cannot start inside a period (an invoice has one currency
 * and a period one interval), so `auto` makes it at the period end and `now` is refused.
 */
export function planChangeTiming(
  from: PlanDefinition,
  to: PlanDefinition,
  seats: number,
  requested: PlanChangeRequest,
): Result<'now' | 'period_end', DomainError> {
  const currencyChanges = from.currency.toLowerCase() !== to.currency.toLowerCase();
  const intervalChanges = from.interval !== to.interval;
  if (requested === 'period_end') return ok('period_end');
  if (requested === 'now') {
    if (currencyChanges) {
      return fail(
        'currency_mismatch',
        `plan "${to.key}" is priced in ${to.currency} and the tenant's plan "${from.key}" in ${from.currency}: an invoice has one currency, so the change can only take effect at the end of the billing period (at: "period_end")`,
        { details: { currencies: [from.currency, to.currency] } },
      );
    }
    if (intervalChanges) {
      return fail(
        'validation_failed',
        `plan "${to.key}" bills every ${to.interval} and the tenant's plan "${from.key}" every ${from.interval}: a change of billing interval takes effect at the end of the billing period`,
        {
          errors: [
            { path: 'at', message: 'must be "period_end" (or "auto") for a change of billing interval' },
          ],
        },
      );
    }
    return ok('now');
  }
  if (currencyChanges || intervalChanges) return ok('period_end');
  return recurringPrice(to, seats) >= recurringPrice(from, seats) ? ok('now') : ok('period_end');
}

/** Flat amounts plus per-seat amounts × seats, per interval, at a common scale of 12 digits. */
function recurringPrice(plan: PlanDefinition, seats: number): bigint {
  let total = 0n;
  for (const price of plan.prices) {
    if (price.type === 'flat') total += atScale12(price.amount);
    if (price.type === 'per_seat') total += atScale12(price.unit_amount) * BigInt(seats);
  }
  return total;
}

function atScale12(amount: string): bigint {
  const value = parseDecimalText(amount);
  return value.coefficient * 10n ** BigInt(12 - Math.min(12, value.scale));
}
