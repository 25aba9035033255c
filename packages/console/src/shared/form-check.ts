import { fromZodIssues } from '@tenantry/core/api/requests';
import type { z } from 'zod';
import { ApiError } from './api.ts';

/** A form's errors by field: the dotted path of the body member (`email`, `event_types.0`), a sentence each. */
export type FieldErrors = Readonly<Record<string, string>>;

/** What {@link validateWith} finds: the body to send, or the errors to show and nothing to send. */
export type Checked<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errors: FieldErrors };

/**
 * Checks a form's values with the request schema the API itself validates the body with
 * (`@tenantry/core/api/requests`): the same rules, the same messages as the plan-file checks
 * (`fromZodIssues`), before anything is sent. One message per field: the first, as the form has
 * room for one beside each field.
 */
export function validateWith<S extends z.ZodType>(schema: S, values: unknown): Checked<z.output<S>> {
  const parsed = schema.safeParse(values, { reportInput: true });
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors: Record<string, string> = {};
  for (const issue of fromZodIssues(parsed.error.issues)) {
    const path = issue.path.join('.');
    errors[path] ??= issue.message;
  }
  return { ok: false, errors };
}

/**
 * The fields a refused write names: the `errors` of the API's problem (`validation_failed` and the
 * domain's own refusals, docs/errors.md), by their path in the body. A path the body does not hold
 * (`query.limit`, `params.id`) is kept as it is, for the form to show above its button. A message
 * that does not start with the field's name gets it in front, so that each one says what it is about.
 */
export function problemFieldErrors(error: unknown): FieldErrors {
  if (!(error instanceof ApiError)) return {};
  const listed = error.problem.errors;
  if (!Array.isArray(listed)) return {};
  const errors: Record<string, string> = {};
  for (const entry of listed) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { path, message } = entry as { path?: unknown; message?: unknown };
    if (typeof path !== 'string' || typeof message !== 'string') continue;
    const field = path.replace(/^body\./, '');
    const name = labelOf(field);
    errors[field] ??= message.startsWith(name) ? message : `${name}: ${message}`;
  }
  return errors;
}

/** A field's name as its messages give it: its key, or `event_types[0]` for a list's entry. */
function labelOf(path: string): string {
  const segments = path.split('.');
  const last = segments.at(-1) ?? path;
  const parent = segments.at(-2);
  return /^\d+$/.test(last) && parent !== undefined ? `${parent}[${last}]` : last;
}
