import { type BillingInterval, type DomainError, fail } from '@tenantry/core';

/** The answer to a test clock id that names no clock (or a deleted one). */
export function testClockNotFound(id: string): { readonly ok: false; readonly error: DomainError } {
  return fail('test_clock_not_found', `no test clock has the id "${id}"`);
}

/** The answer to a change to a test clock (or its tenants' creation) while it is being advanced. */
export function testClockAdvancing(id: string): { readonly ok: false; readonly error: DomainError } {
  return fail(
    'test_clock_advancing',
    `test clock "${id}" is being advanced; try again once its status is "ready"`,
    { details: { test_clock: id } },
  );
}

/** The answer to an advance further than two billing intervals of the clock's shortest plan. */
export function testClockAdvanceTooFar(
  furthest: Date,
  interval: BillingInterval,
): { readonly ok: false; readonly error: DomainError } {
  const at = furthest.toISOString();
  const message = `may be at most two ${interval}s ahead of the clock's time (${
    interval === 'month'
      ? "the shortest billing interval of the clock's tenants' plans"
      : 'the clock has no tenant on a monthly plan'
  }): at most ${at}; advance in steps`;
  return fail('test_clock_advance_too_far', `frozen_time ${message}`, {
    errors: [{ path: 'frozen_time', message }],
    details: { max_frozen_time: at, interval },
  });
}
