import { type DomainError, fail } from '@tenantry/core';

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
