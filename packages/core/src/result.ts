/**
 * The outcome of an operation whose failure is expected (bad input, an illegal transition, an
 * unknown id). Unexpected failures still throw; expected ones are values, so callers must look.
 *
 * @example
 * ```ts
 * import { err, ok, type Result } from '@tenantry/core';
 * function half(n: number): Result<number, string> {
 *   return n % 2 === 0 ? ok(n / 2) : err('odd');
 * }
 * ```
 */
export type Result<T, E> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

/** A successful {@link Result}. */
export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

/** A failed {@link Result}. */
export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}
